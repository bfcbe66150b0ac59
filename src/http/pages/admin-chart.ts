import type { AdoptionPoint } from '../../services/admin.ts';
import { html, type SafeHtml } from './html.ts';

/**
 * The 2FA adoption chart as inline SVG drawn on the server: no script, and no style attributes
 * (the CSP forbids them), so every colour comes from classes in tessera.css. The figure caption
 * says in words what the line shows, so the drawing itself is hidden from screen readers.
 */

const WIDTH = 300;
const HEIGHT = 100;
const PLOT_LEFT = 24;
const PLOT_TOP = 8;
const PLOT_BOTTOM = 80;

function round(n: number): string {
  return (Math.round(n * 10) / 10).toString();
}

export function adoptionChart(points: AdoptionPoint[], total: number): SafeHtml {
  if (points.length === 0) return html``;
  const top = Math.max(1, total, ...points.map((p) => p.enabled));
  const step = points.length > 1 ? (WIDTH - PLOT_LEFT - 4) / (points.length - 1) : 0;
  const xy = points.map((p, i) => ({
    x: PLOT_LEFT + i * step,
    y: PLOT_BOTTOM - (p.enabled / top) * (PLOT_BOTTOM - PLOT_TOP),
  }));
  const line = xy.map((p) => `${round(p.x)},${round(p.y)}`).join(' ');
  const last = xy.at(-1)!;
  const area = `${round(PLOT_LEFT)},${PLOT_BOTTOM} ${line} ${round(last.x)},${PLOT_BOTTOM}`;
  const first = points[0]!;
  const today = points.at(-1)!;
  const summary = `People with 2FA over the last ${points.length} days: ${first.enabled} on ${first.day}, ${today.enabled} of ${total} today (${today.day}).`;
  return html`<figure class="adoption">
<svg class="adoption-chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" aria-hidden="true" focusable="false">
  <line class="adoption-grid" x1="${PLOT_LEFT}" y1="${PLOT_TOP}" x2="${WIDTH - 4}" y2="${PLOT_TOP}"></line>
  <line class="adoption-axis" x1="${PLOT_LEFT}" y1="${PLOT_BOTTOM}" x2="${WIDTH - 4}" y2="${PLOT_BOTTOM}"></line>
  <polygon class="adoption-area" points="${area}"></polygon>
  <polyline class="adoption-line" points="${line}"></polyline>
  <circle class="adoption-dot" cx="${round(last.x)}" cy="${round(last.y)}" r="3"></circle>
  <text class="adoption-label" x="${PLOT_LEFT - 4}" y="${PLOT_TOP + 4}" text-anchor="end">${top}</text>
  <text class="adoption-label" x="${PLOT_LEFT - 4}" y="${PLOT_BOTTOM + 4}" text-anchor="end">0</text>
  <text class="adoption-label" x="${PLOT_LEFT}" y="${HEIGHT - 4}">${first.day}</text>
  <text class="adoption-label" x="${WIDTH - 4}" y="${HEIGHT - 4}" text-anchor="end">today</text>
</svg>
<figcaption>${summary}</figcaption>
</figure>`;
}
