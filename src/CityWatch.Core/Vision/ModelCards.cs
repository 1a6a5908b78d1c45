namespace CityWatch.Vision;

/// <summary>An accuracy figure measured by <c>citywatch eval</c> on one of the shared sets.</summary>
/// <param name="Set">The set, as named in docs/evaluation.md.</param>
/// <param name="Command">The command that measured it.</param>
/// <param name="Figures">Metric name to value (auc, eer, tar_at_far_0.001, precision_iou_0.5, ...).</param>
public sealed record MeasuredAccuracy(string Set, string Command, IReadOnlyDictionary<string, double?> Figures);

/// <summary>
/// The operating threshold <c>citywatch eval verify --calibrate</c> proposes on a shared set degraded to CCTV
/// quality, and the false match rate measured at it.
/// </summary>
/// <param name="Set">The set, as named in docs/evaluation.md.</param>
/// <param name="Degrade">The <c>--degrade</c> spec every image went through.</param>
/// <param name="Command">The command that measured it.</param>
/// <param name="TargetFar">The false match rate the threshold was chosen for (<c>--target-far</c>).</param>
/// <param name="Threshold">The threshold proposed.</param>
/// <param name="MeasuredFar">The share of the set's impostor pairs at or above <see cref="Threshold"/>.</param>
/// <param name="Tar">The share of its genuine pairs at or above it.</param>
/// <param name="Genuine">Genuine pairs measured.</param>
/// <param name="Impostor">Impostor pairs measured.</param>
public sealed record DegradedCalibration(string Set, string Degrade, string Command, double TargetFar, float Threshold, double MeasuredFar, double Tar, int Genuine, int Impostor);

/// <summary>
/// What a deployment must know about a model before it runs it: where it comes from, its licence, what is
/// known of its training data, how it is fed, and the accuracy we measured. Served at GET /api/models.
/// </summary>
public sealed record ModelCard(
    string Name,
    ModelRole Role,
    string File,
    string Sha256,
    string Source,
    string Licence,
    string TrainingData,
    string Input,
    string Notes,
    IReadOnlyList<MeasuredAccuracy> Measured,
    float? CalibratedThreshold,
    IReadOnlyList<DegradedCalibration> DegradedCalibrations);

/// <summary>
/// The model cards, as data in code. The figures come from docs/evaluation.md (same commands, models from
/// ../shared/models). An embedder's calibrated threshold is its threshold at FAR 1e-3 on dlib_johns (1210
/// impostor pairs, the only shared set large enough): the default of
/// <see cref="Settings.SettingsStore.OperatingThreshold"/> until a city calibrates on its own data. Beside it,
/// <see cref="ModelCard.DegradedCalibrations"/> records what the same calibration proposes at CCTV quality
/// (docs/evaluation.md, "Calibration at CCTV quality"); it informs a city's choice and is not applied.
/// </summary>
public static class ModelCards
{
    private const string Caveat = "tiny celebrity photo sets, not CCTV; thresholds chosen on the same data are optimistic";

    public static ModelCard YuNet { get; } = Card(
        YuNetDetector.ModelName,
        ModelCatalog.YuNetDynamic,
        "WIDER FACE, per the libfacedetection.train repository (not verified by us); nothing about the data travels with the ONNX file.",
        "Box, score and five landmarks (eyes, nose tip, mouth corners) used for alignment. Default detector.",
        [
            Detection("dlib_faces (43 hand-labelled faces in 9 PASCAL VOC photos)", "citywatch eval detect --set ../shared/data/faces/dlib_faces --detector yunet", precision03: 0.915, recall03: 1.0, precision05: 0.915, recall05: 1.0),
        ],
        threshold: null);

    public static ModelCard UltraFace { get; } = Card(
        UltraFaceDetector.ModelName,
        ModelCatalog.UltraFaceRfb320,
        "A cleaned WIDER FACE training set, per the Ultra-Light-Fast-Generic-Face-Detector-1MB README (not verified by us).",
        "Box and score only, NO landmarks: for alignment CityWatch estimates the five points from the box, placing the mean ArcFace "
            + "template positions (112x112) scaled into the box. This ignores pose and roll, so recognition after UltraFace is weaker than after YuNet. "
            + "Fixed 320x240 input: small faces in large frames are lost.",
        [
            Detection("dlib_faces (43 hand-labelled faces in 9 PASCAL VOC photos)", "citywatch eval detect --set ../shared/data/faces/dlib_faces --detector ultraface", precision03: 1.0, recall03: 1.0, precision05: 1.0, recall05: 1.0),
            Verification("dlib_johns, with fr_feature on the estimated landmarks", "citywatch eval verify --set ../shared/data/faces/dlib_johns --detector ultraface", 0.857, 0.217, 0.280, 0.185),
            Verification("ageitgey identities.csv, with fr_feature on the estimated landmarks", "citywatch eval verify --set ../shared/data/faces/ageitgey/identities.csv --detector ultraface", 0.988, 0.071, null, null),
        ],
        threshold: null);

    public static ModelCard FrFeature { get; } = Card(
        FrFeatureEmbedder.ModelName,
        ModelCatalog.FrFeature,
        "NOT STATED. The npm package does not say what data the model was trained on, nor whether the people in it consented. "
            + "A deployment must record this gap, and legal review is needed before live use.",
        "512-d, L2-normalised, cosine similarity. Default embedder.",
        [
            Verification("dlib_johns", "citywatch eval verify --set ../shared/data/faces/dlib_johns --embedder fr_feature", 1.000, 0.000, 1.000, 1.000),
            Verification("ageitgey identities.csv", "citywatch eval verify --set ../shared/data/faces/ageitgey/identities.csv --embedder fr_feature", 1.000, 0.000, null, null),
        ],
        threshold: 0.3404f,
        degraded:
        [
            Degraded(FrFeatureEmbedder.ModelName, "width=64,blur=0.7,jpeg=30,upscale=2", 0.3209f, 1.0 / 1210, 1.000),
            Degraded(FrFeatureEmbedder.ModelName, "width=48,blur=0.7,jpeg=30,upscale=2", 0.3849f, 1.0 / 1210, 0.902),
        ]);

    public static ModelCard FaceRes { get; } = Card(
        FaceResEmbedder.ModelName,
        ModelCatalog.FaceRes,
        "The human-models package names HSE-asavchenko/HSE_FaceRec_tf as the upstream, whose authors describe training on VGGFace2; "
            + "we have not verified this, nor the consent basis of that set. Converted locally from the TF.js graph; no upstream ONNX file exists.",
        "1024-d, L2-normalised. Aligned onto the ArcFace template doubled for 224x224.",
        [
            Verification("dlib_johns", "citywatch eval verify --set ../shared/data/faces/dlib_johns --embedder faceres", 1.000, 0.0017, 1.000, 0.996),
            Verification("ageitgey identities.csv", "citywatch eval verify --set ../shared/data/faces/ageitgey/identities.csv --embedder faceres", 1.000, 0.000, null, null),
        ],
        threshold: 0.6389f);

    public static ModelCard MobileFace { get; } = Card(
        MobileFaceEmbedder.ModelName,
        ModelCatalog.MobileFace,
        "Not stated in the human-models package, which names becauseofAI/MobileFace as the upstream; we have not checked the upstream's account. "
            + "Treat as unknown. Converted locally from the TF.js graph; no upstream ONNX file exists.",
        "256-d, L2-normalised. Fast and clearly weaker: a candidate for a cheap first stage only.",
        [
            Verification("dlib_johns", "citywatch eval verify --set ../shared/data/faces/dlib_johns --embedder mobileface", 0.988, 0.064, 0.840, 0.684),
            Verification("ageitgey identities.csv", "citywatch eval verify --set ../shared/data/faces/ageitgey/identities.csv --embedder mobileface", 0.989, 0.071, null, null),
        ],
        threshold: 0.5068f);

    public static IReadOnlyList<ModelCard> All { get; } = [YuNet, UltraFace, FrFeature, FaceRes, MobileFace];

    /// <summary>The card of a configured detector or embedder name.</summary>
    public static ModelCard Get(string name) =>
        All.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.Ordinal))
        ?? throw new NotFoundException($"No model card for '{name}': the models are {string.Join(", ", All.Select(c => c.Name))}.");

    private static ModelCard Card(
        string name, ModelInfo model, string trainingData, string notes, IReadOnlyList<MeasuredAccuracy> measured, float? threshold, IReadOnlyList<DegradedCalibration>? degraded = null) =>
        new(name, model.Role, model.FileName, model.Sha256, model.Source.Describe(), model.Licence, trainingData, model.InputSpec, notes, measured, threshold, degraded ?? []);

    // The threshold at FAR 1e-3 on dlib_johns degraded by spec (the only shared set with 1000+ impostor pairs).
    private static DegradedCalibration Degraded(string embedder, string spec, float threshold, double measuredFar, double tar) =>
        new(
            $"dlib_johns ({Caveat})",
            spec,
            $"citywatch eval verify --set ../shared/data/faces/dlib_johns --embedder {embedder} --degrade {spec} --target-far 0.001 --calibrate",
            1e-3,
            threshold,
            measuredFar,
            tar,
            275,
            1210);

    private static MeasuredAccuracy Verification(string set, string command, double auc, double eer, double? tarAtFar001, double? tarAtFar0001) =>
        new($"{set} ({Caveat})", command, new Dictionary<string, double?>
        {
            ["auc"] = auc,
            ["eer"] = eer,
            ["tar_at_far_0.01"] = tarAtFar001,
            ["tar_at_far_0.001"] = tarAtFar0001,
        });

    private static MeasuredAccuracy Detection(string set, string command, double precision03, double recall03, double precision05, double recall05) =>
        new($"{set} ({Caveat})", command, new Dictionary<string, double?>
        {
            ["precision_iou_0.3"] = precision03,
            ["recall_iou_0.3"] = recall03,
            ["precision_iou_0.5"] = precision05,
            ["recall_iou_0.5"] = recall05,
        });
}
