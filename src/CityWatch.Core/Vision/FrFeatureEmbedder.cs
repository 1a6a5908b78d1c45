namespace CityWatch.Vision;

/// <summary>
/// The fr_feature.onnx embedder: a 112x112 aligned BGR chip in, (x - 127) / 128 as NCHW [1,3,112,112],
/// a 512-d vector out, L2-normalised.
/// </summary>
public sealed class FrFeatureEmbedder(string modelPath, VisionOptions options)
    : AlignedEmbedder(modelPath, options, Spec512)
{
    public const string ModelName = "fr_feature";
    public const int VectorLength = 512;

    private static readonly EmbedderSpec Spec512 = new(ModelName, FaceAligner.ChipSize, VectorLength, ChannelsLast: false, Rgb: false, Offset: 127f, Scale: 1 / 128f);
}
