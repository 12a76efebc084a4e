const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/**
 * A value for people. With a field name, units follow from Telegraf's naming: `*_percent` as %,
 * memory and byte fields in binary units. Otherwise whole numbers stay whole and others keep two
 * decimals.
 */
export function formatValue(v: number, field?: string): string {
  if (!Number.isFinite(v)) return String(v);
  if (field?.endsWith("_percent")) return `${Math.round(v * 10) / 10}%`;
  if (field !== undefined && (field.startsWith("memory_") || field.endsWith("_bytes") || ["total", "used", "free", "available"].includes(field))) {
    let unit = 0;
    while (Math.abs(v) >= 1024 && unit < BYTE_UNITS.length - 1) {
      v /= 1024;
      unit++;
    }
    return `${Math.round(v * 10) / 10} ${BYTE_UNITS[unit]}`;
  }
  if (Number.isInteger(v) || Math.abs(v) >= 1000) return String(Math.round(v));
  return String(Number(v.toFixed(2)));
}
