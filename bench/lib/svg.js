'use strict'
// Hand-written SVG bar charts (no chart library): horizontal bars, grouped series, linear or
// log scale, with value labels.

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

const COLORS = ['#2563eb', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6']

/**
 * rows: [{ label, values: [number|null per series], highlight? }]
 * series: [names]; log: boolean; unit: string; fmt: number -> string
 */
function barChart({ title, subtitle, rows, series, log = false, fmt = String, note }) {
  // Room for the longest label (about 6.6 px per character at 12 px).
  const labelW = Math.max(160, Math.min(560, Math.max(...rows.map((r) => String(r.label).length)) * 6.6 + 24))
  const plotW = 560
  const rightPad = 90
  const barH = 14
  const gap = 4
  const groupGap = 12
  const top = 64 + (series.length > 1 ? 18 : 0)
  const groupH = series.length * (barH + gap) - gap
  const height = top + rows.length * (groupH + groupGap) + 40 + (note ? 16 : 0)
  const width = labelW + plotW + rightPad
  const all = rows.flatMap((r) => r.values).filter((v) => typeof v === 'number' && v > 0)
  const max = Math.max(...all, 1)
  const min = Math.min(...all, max)
  let scale
  let ticks
  if (log) {
    const lo = Math.floor(Math.log10(min))
    const hi = Math.ceil(Math.log10(max))
    scale = (v) => (v > 0 ? ((Math.log10(v) - lo) / Math.max(1, hi - lo)) * plotW : 0)
    ticks = []
    for (let e = lo; e <= hi; e++) ticks.push(10 ** e)
  } else {
    const step = niceStep(max / 5)
    const hi = Math.ceil(max / step) * step
    scale = (v) => (v > 0 ? (v / hi) * plotW : 0)
    ticks = []
    for (let t = 0; t <= hi + 1e-9; t += step) ticks.push(t)
  }
  const out = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="-apple-system,Segoe UI,Helvetica,Arial,sans-serif" font-size="12">`,
  )
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`)
  out.push(`<text x="12" y="22" font-size="15" font-weight="600" fill="#111">${esc(title)}</text>`)
  if (subtitle) out.push(`<text x="12" y="40" fill="#555">${esc(subtitle)}</text>`)
  if (series.length > 1) {
    let x = labelW
    series.forEach((s, i) => {
      out.push(`<rect x="${x}" y="${top - 30}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`)
      out.push(`<text x="${x + 14}" y="${top - 21}" fill="#333">${esc(s)}</text>`)
      x += 20 + s.length * 7
    })
  }
  const plotBottom = height - 30 - (note ? 16 : 0)
  for (const t of ticks) {
    const x = labelW + scale(t)
    out.push(`<line x1="${x.toFixed(1)}" y1="${top - 6}" x2="${x.toFixed(1)}" y2="${plotBottom}" stroke="#e5e7eb"/>`)
    out.push(`<text x="${x.toFixed(1)}" y="${plotBottom + 14}" text-anchor="middle" fill="#666" font-size="10">${esc(fmt(t))}</text>`)
  }
  rows.forEach((r, gi) => {
    const y0 = top + gi * (groupH + groupGap)
    out.push(
      `<text x="${labelW - 8}" y="${y0 + groupH / 2 + 4}" text-anchor="end" fill="#111"${r.highlight ? ' font-weight="600"' : ''}>${esc(r.label)}</text>`,
    )
    r.values.forEach((v, si) => {
      const y = y0 + si * (barH + gap)
      if (typeof v !== 'number' || !(v > 0)) {
        out.push(`<text x="${labelW + 4}" y="${y + barH - 3}" fill="#999" font-size="10">${esc(r.missing?.[si] || 'n/a')}</text>`)
        return
      }
      const w = Math.max(1, scale(v))
      out.push(
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[si % COLORS.length]}"${r.highlight ? '' : ' fill-opacity="0.75"'}/>`,
      )
      out.push(`<text x="${(labelW + w + 4).toFixed(1)}" y="${y + barH - 3}" fill="#111" font-size="10">${esc(fmt(v))}</text>`)
    })
  })
  out.push(
    `<text x="${labelW + plotW / 2}" y="${height - 8 - (note ? 16 : 0)}" text-anchor="middle" fill="#666" font-size="10">${log ? 'log scale' : 'linear scale'}</text>`,
  )
  if (note) out.push(`<text x="12" y="${height - 8}" fill="#666" font-size="10">${esc(note)}</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}

function niceStep(raw) {
  const e = 10 ** Math.floor(Math.log10(raw || 1))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * e >= raw) return m * e
  return 10 * e
}

module.exports = { barChart }
