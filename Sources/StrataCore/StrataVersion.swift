/// The version of Strata, as `strata --version` prints it and segment files record it
/// (`createdBy` in the footer).
public enum StrataVersion {
    public static let current = "0.1.0"
}
