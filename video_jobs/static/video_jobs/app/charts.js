// What the pages' Chart.js charts share: one line chart's set-up over a time axis whose labels never crowd
// each other (a phone has room for few), value ticks as readable numbers, a "nice" top for the value axis,
// and a playback cursor (a vertical line at the video's current time) with click-to-seek. Needs the bundle
// (window.CricksyChart) and common.js; adds C.charts.
;(function () {
  'use strict'
  const C = window.Cricksy
  const CURSOR_COLOUR = 'rgba(20, 20, 20, 0.75)'
  const NUMBER = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 })

  // The smallest of 1, 2, 2.5, 5 × 10^k at or above value: a top tick a person reads at a glance.
  function niceCeil(value) {
    if (!(value > 0)) return 1
    const power = 10 ** Math.floor(Math.log10(value))
    for (const step of [1, 2, 2.5, 5, 10]) {
      if (step * power >= value - 1e-12) return step * power
    }
    return 10 * power
  }

  // Drawn after the datasets: a vertical line at chart.$cursorTime (seconds), once moveCursors set one.
  const cursorPlugin = {
    id: 'cricksyCursor',
    afterDatasetsDraw(chart) {
      const time = chart.$cursorTime
      if (time == null || !chart.scales.x) return
      const x = chart.scales.x.getPixelForValue(time)
      const { top, bottom, left, right } = chart.chartArea
      if (x < left || x > right) return
      const ctx = chart.ctx
      ctx.save()
      ctx.strokeStyle = CURSOR_COLOUR
      ctx.lineWidth = 1.5
      ctx.beginPath()
      ctx.moveTo(x, top)
      ctx.lineTo(x, bottom)
      ctx.stroke()
      ctx.restore()
    },
  }
  window.CricksyChart.register(cursorPlugin)

  // Steps of a time axis a person counts in: whole seconds (the labels show no fractions), then minutes.
  const TIME_STEPS = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600]

  // A linear time axis from 0 to end, its labels as clock times, upright, at most one per 70 px ("00:00" is
  // about 35 px wide), so that none touches its neighbour however narrow the chart is (a phone).
  function timeAxis(end) {
    return {
      type: 'linear',
      min: 0,
      max: end,
      title: { display: true, text: 'time' },
      ticks: { callback: (value) => C.clock(value), maxRotation: 0, autoSkip: false },
      afterBuildTicks: (scale) => {
        const room = Math.max(1, Math.floor(scale.width / 70))
        const wanted = (scale.max - scale.min) / room
        const step = TIME_STEPS.find((s) => s >= wanted) || Math.ceil(wanted / 3600) * 3600
        const ticks = []
        for (let value = 0; value <= scale.max + 1e-9; value += step) ticks.push({ value })
        scale.ticks = ticks
      },
    }
  }

  // The legend's swatches as the lines are drawn: a line (dashed where the line is) rather than a box; a
  // filled area keeps its box. Chart.js takes a swatch's dash from the point's style, which has none.
  const legend = {
    position: 'bottom',
    labels: {
      usePointStyle: true,
      pointStyleWidth: 28,
      boxHeight: 8,
      generateLabels(chart) {
        const items = window.CricksyChart.defaults.plugins.legend.labels.generateLabels(chart)
        for (const item of items) {
          const dataset = chart.data.datasets[item.datasetIndex]
          if (dataset.borderDash) item.lineDash = dataset.borderDash
          if (item.pointStyle === 'line') item.lineWidth = dataset.borderWidth || 1.5
        }
        return items
      },
    },
  }

  const valueTicks = { callback: (value) => NUMBER.format(value) }

  // Click anywhere on a chart (a point or between points): seek to the time under the pointer, or to the
  // nearest point's time when the click was on one.
  function seekOnClick(onSeek) {
    return (event, elements, chart) => {
      if (!onSeek) return
      const [hit] = elements
      const time = hit
        ? chart.data.datasets[hit.datasetIndex].data[hit.index].x
        : chart.scales.x.getValueForPixel(event.x)
      if (Number.isFinite(time)) onSeek(Math.max(0, time))
    }
  }

  // Move every chart's cursor to `time` (seconds), redrawing only the charts whose cursor moved a pixel.
  function moveCursors(charts, time) {
    for (const chart of charts) {
      const x = chart.scales.x
      const before = chart.$cursorTime
      if (before == null || Math.abs(x.getPixelForValue(before) - x.getPixelForValue(time)) >= 1) {
        chart.$cursorTime = time
        chart.draw()
      }
    }
  }

  // A line chart of `datasets` over time, 0 to `end`, with the value axis `y`: drawn at once (no animation),
  // the nearest point in time under the pointer, click-to-seek, the legend, and a tooltip titled with the
  // clock time (`tooltip` adds the chart's own options: a filter, a label callback).
  function timeChart({ datasets, end, y, onSeek, tooltip = {} }) {
    const title = (items) => (items.length ? C.clock(items[0].parsed.x) : '')
    return {
      type: 'line',
      data: { datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        onClick: seekOnClick(onSeek),
        scales: { x: timeAxis(end), y },
        plugins: { legend, tooltip: { ...tooltip, callbacks: { title, ...tooltip.callbacks } } },
      },
    }
  }

  // Draw `config` on `canvas` in place of any chart drawn there before (a page may render a result again);
  // a null config only clears the canvas. Returns the chart drawn, if any.
  function draw(canvas, config) {
    const previous = window.CricksyChart.getChart(canvas)
    if (previous) previous.destroy()
    return config ? new window.CricksyChart(canvas, config) : null
  }

  C.charts = { niceCeil, valueTicks, timeChart, draw, moveCursors, NUMBER }
})()
