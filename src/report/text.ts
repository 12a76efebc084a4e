import { formatValue } from "../core/format.js";
import { formatDate, formatDateRange, signed } from "./recommend.js";
import type { Grower, ReportItem } from "./types.js";

// Plain-text pieces shared by the HTML and Markdown renderers (escaping is theirs).

export const KIND_LABELS: Readonly<Record<ReportItem["kind"], string>> = {
  disk: "Disk",
  inodes: "Inodes",
  memory: "Memory",
  cpu: "CPU",
  certificate: "Certificate",
};

/** "58.1%" or "9 d". */
export function currentText(item: ReportItem): string {
  if (item.current === null) return "no data";
  return item.unit === "percent" ? formatValue(item.current, "used_percent") : `${formatValue(Math.round(item.current * 10) / 10)} d`;
}

/** "+2 pts/day (+14/week)", "−1 d/day". */
export function growthText(item: ReportItem): string {
  if (item.growthPerDay === null || item.growthPerWeek === null) return "–";
  const unit = item.unit === "percent" ? "pts" : "d";
  return `${signed(item.growthPerDay)} ${unit}/day (${signed(item.growthPerWeek)}/week)`;
}

/** "2026-01-26 (25–27 Jan)", or "not in sight". */
export function exhaustionText(item: ReportItem, timeZone: string): string {
  const e = item.exhaustion;
  if (e === null) return "not in sight";
  const range = e.lowMs === e.highMs ? "" : ` (${formatDateRange(e.lowMs, e.highMs, timeZone)})`;
  return `${formatDate(e.atMs, timeZone)}${range}`;
}

/** "42 pts left" or "21 d left" at the horizon's end, or "expired by then". */
export function headroomText(item: ReportItem): string {
  if (item.headroomAtHorizon === null) return "–";
  if (item.unit === "percent") return `${formatValue(Math.max(0, item.headroomAtHorizon))} pts left`;
  return item.headroomAtHorizon < 0 ? "expired by then" : `${formatValue(Math.round(item.headroomAtHorizon * 10) / 10)} d left`;
}

/** "1.2 GiB now, +500 MiB/day". */
export function growerText(g: Grower): string {
  return `${formatValue(g.currentBytes, "memory_bytes")} now, +${formatValue(g.growthBytesPerDay, "memory_bytes")}/day`;
}

/** "2026-01-05 07:00 (Europe/Paris)". */
export function dateTimeText(ms: number, timeZone: string): string {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(ms);
  return `${formatDate(ms, timeZone)} ${parts} (${timeZone})`;
}
