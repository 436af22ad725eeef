// Converts world-atlas's countries-110m.json (Natural Earth 1:110m,
// public domain, as TopoJSON) into countries.txt, the compact form the
// report embeds: one polygon ring a line, "lon,lat lon,lat ..." in tenths
// of a degree, rings of the same country sharing its ISO numeric id before
// a tab. Run at dev time only:
//
//	npm install world-atlas@2.0.2 && node convert.mjs node_modules/world-atlas/countries-110m.json > countries.txt
import { readFileSync } from "node:fs";

const topo = JSON.parse(readFileSync(process.argv[2], "utf8"));
const [sx, sy] = topo.transform.scale;
const [tx, ty] = topo.transform.translate;
const arcs = topo.arcs.map((arc) => {
  let x = 0, y = 0;
  return arc.map(([dx, dy]) => {
    x += dx; y += dy;
    return [x * sx + tx, y * sy + ty];
  });
});
const arc = (i) => (i >= 0 ? arcs[i] : arcs[~i].slice().reverse());
const ring = (idx) => {
  const pts = [];
  for (const i of idx) {
    const a = arc(i);
    pts.push(...(pts.length ? a.slice(1) : a));
  }
  return pts;
};
const out = [];
for (const g of topo.objects.countries.geometries) {
  const polys = g.type === "Polygon" ? [g.arcs] : g.type === "MultiPolygon" ? g.arcs : [];
  for (const poly of polys) {
    for (const r of poly) {
      const pts = [];
      let last = "";
      for (const [x, y] of ring(r)) {
        const p = `${Math.round(x * 10)},${Math.round(y * 10)}`;
        if (p !== last) pts.push(p);
        last = p;
      }
      if (pts.length >= 4) out.push(`${g.id ?? ""}\t${pts.join(" ")}`);
    }
  }
}
process.stdout.write(out.join("\n") + "\n");
