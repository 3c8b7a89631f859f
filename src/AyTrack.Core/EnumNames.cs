namespace AyTrack.Core;

/// <summary>
/// Enums as operators write them: one of the documented names, in any case. Never a number and never a comma-joined
/// list, which <see cref="Enum.TryParse{TEnum}(string?, bool, out TEnum)"/> would accept (and combine into a value no
/// name has).
/// </summary>
public static class EnumNames
{
    public static bool TryParse<TEnum>(string? text, out TEnum value)
        where TEnum : struct, Enum
    {
        var name = text is null ? null : Enum.GetNames<TEnum>().FirstOrDefault(n => n.Equals(text, StringComparison.OrdinalIgnoreCase));
        value = name is null ? default : Enum.Parse<TEnum>(name);
        return name is not null;
    }
}
