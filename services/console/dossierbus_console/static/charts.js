// Horizontal bar charts drawn as inline SVG: one bar per label, values from 0 to `max`.

const SVG = "http://www.w3.org/2000/svg";
const ROW = 22;
const LABEL_WIDTH = 250;
const LABEL_CHARS = 38; // about what fits in LABEL_WIDTH; longer labels are cut, whole in the tooltip
const BAR_WIDTH = 260;
const VALUE_WIDTH = 60;

function svg(name, attributes = {}, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

// rows: [{label, value}] where value may be null (not measured: no bar, shown as "–").
export function barChart({ title, rows, max, format = String }) {
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(caption);

  const scale = max ?? Math.max(1, ...rows.map((row) => row.value ?? 0));
  const height = rows.length * ROW + 4;
  const chart = svg("svg", {
    width: LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH,
    height,
    viewBox: `0 0 ${LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH} ${height}`,
    role: "img",
    "aria-label": title,
  });
  rows.forEach((row, index) => {
    const y = index * ROW + 2;
    const short = row.label.length > LABEL_CHARS ? `${row.label.slice(0, LABEL_CHARS - 1)}…` : row.label;
    const label = svg("text", { x: LABEL_WIDTH - 8, y: y + 15, "text-anchor": "end", class: "label" }, short);
    label.append(svg("title", {}, row.label));
    chart.append(label);
    chart.append(svg("rect", { x: LABEL_WIDTH, y, width: BAR_WIDTH, height: ROW - 6, class: "track" }));
    if (row.value !== null && row.value !== undefined) {
      const width = Math.max(0, Math.min(1, row.value / scale)) * BAR_WIDTH;
      const bar = svg("rect", { x: LABEL_WIDTH, y, width, height: ROW - 6, class: "bar" });
      bar.append(svg("title", {}, `${row.label}: ${format(row.value)}`));
      chart.append(bar);
    }
    const shown = row.value === null || row.value === undefined ? "–" : format(row.value);
    chart.append(svg("text", { x: LABEL_WIDTH + BAR_WIDTH + 6, y: y + 15, class: "value" }, shown));
  });
  figure.append(chart);
  return figure;
}
