namespace CityWatch.Policy;

/// <summary>
/// The criminal offences of AI Act Annex II, for which real-time identification of a suspect may be
/// authorised (article 5(1)(h)(iii)), by the code a legal basis names in its <c>offence</c> field.
/// </summary>
public static class ListedOffences
{
    public static readonly IReadOnlyDictionary<string, string> All = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["terrorism"] = "terrorism",
        ["trafficking-in-human-beings"] = "trafficking in human beings",
        ["child-sexual-exploitation"] = "sexual exploitation of children, and child pornography",
        ["drug-trafficking"] = "illicit trafficking in narcotic drugs or psychotropic substances",
        ["weapons-trafficking"] = "illicit trafficking in weapons, munitions or explosives",
        ["murder"] = "murder, grievous bodily injury",
        ["organ-trafficking"] = "illicit trade in human organs or tissue",
        ["nuclear-trafficking"] = "illicit trafficking in nuclear or radioactive materials",
        ["kidnapping"] = "kidnapping, illegal restraint or hostage-taking",
        ["icc-crimes"] = "crimes within the jurisdiction of the International Criminal Court",
        ["aircraft-or-ship-seizure"] = "unlawful seizure of aircraft or ships",
        ["rape"] = "rape",
        ["environmental-crime"] = "environmental crime",
        ["armed-robbery"] = "organised or armed robbery",
        ["sabotage"] = "sabotage",
        ["criminal-organisation"] = "participation in a criminal organisation involved in one or more of the offences listed above",
    };
}
