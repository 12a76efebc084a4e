import type { ReportItem } from "./types.js";

/** Chart size in SVG units; the page scales it to its column (viewBox, width 100%). */
const WIDTH = 640;
const HEIGHT = 220;

const COLORS = { actual: "#2563eb", forecast: "#d97706", band: "rgba(217, 119, 6, 0.18)", limit: "#dc2626", grid: "#e5e7eb" };

/** "5 Jan" in the report's zone, for the time axis. */
function axisDate(timeZone: string): (ms: number) => string {
  const fmt = new Intl.DateTimeFormat("en-GB", { timeZone, day: "numeric", month: "short" });
  return (ms) => fmt.format(ms);
}

/**
 * ECharts options for one item: the actual series, the forecast line and its band (a stacked
 * pair: the transparent low edge, then high − low filled), and the limit. No text from the data
 * goes into the chart (series names are fixed), so the SVG needs no escaping beyond ECharts' own.
 */
function chartOption(item: ReportItem, timeZone: string): Record<string, unknown> {
  const fc = item.forecast;
  const hasBand = fc.some((f) => f.high - f.low > 1e-9);
  const series: Array<Record<string, unknown>> = [
    {
      name: "actual",
      type: "line",
      data: item.history,
      showSymbol: false,
      lineStyle: { width: 1.5, color: COLORS.actual },
      itemStyle: { color: COLORS.actual },
      markLine: item.unit === "percent" ? { silent: true, symbol: "none", label: { show: false }, lineStyle: { color: COLORS.limit, type: "solid", width: 1 }, data: [{ yAxis: item.limit }] } : undefined,
    },
  ];
  if (hasBand) {
    series.push(
      { name: "band-low", type: "line", stack: "band", data: fc.map((f) => [f.tMs, f.low]), showSymbol: false, lineStyle: { opacity: 0 }, silent: true },
      { name: "band", type: "line", stack: "band", data: fc.map((f) => [f.tMs, f.high - f.low]), showSymbol: false, lineStyle: { opacity: 0 }, areaStyle: { color: COLORS.band }, silent: true },
    );
  }
  if (fc.length > 0) {
    series.push({ name: "forecast", type: "line", data: fc.map((f) => [f.tMs, f.value]), showSymbol: false, lineStyle: { width: 1.5, type: "dashed", color: COLORS.forecast } });
  }
  return {
    animation: false,
    backgroundColor: "transparent",
    grid: { left: 44, right: 12, top: 14, bottom: 28 },
    xAxis: { type: "time", axisLabel: { formatter: axisDate(timeZone), hideOverlap: true, color: "#4b5563" }, splitLine: { show: false } },
    yAxis: {
      type: "value",
      min: item.unit === "percent" ? 0 : undefined,
      max: item.unit === "percent" ? 100 : undefined,
      axisLabel: { formatter: item.unit === "percent" ? "{value}%" : "{value} d", color: "#4b5563" },
      splitLine: { lineStyle: { color: COLORS.grid } },
    },
    series,
  };
}

/** Makes ECharts' fixed-size SVG scale with its container. */
function responsive(svg: string): string {
  return svg.replace(/^<svg width="\d+(?:\.\d+)?" height="\d+(?:\.\d+)?"/, '<svg width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-label="usage chart"');
}

/**
 * Inline SVG charts rendered on the server by Apache ECharts (SSR, no DOM), one per item with
 * data, keyed by item id. ECharts is loaded here, on first use, so the API starts without it.
 */
export async function renderCharts(items: readonly ReportItem[], timeZone: string): Promise<Map<string, string>> {
  const echarts = await import("echarts");
  const out = new Map<string, string>();
  for (const item of items) {
    if (item.history.length === 0 && item.forecast.length === 0) continue;
    const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width: WIDTH, height: HEIGHT });
    try {
      chart.setOption(chartOption(item, timeZone));
      out.set(item.id, responsive(chart.renderToSVGString()));
    } finally {
      chart.dispose();
    }
  }
  return out;
}
