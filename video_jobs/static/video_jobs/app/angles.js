// The pose analysis's angle timelines (result.pose.angles: name -> [[seconds, degrees or null], ...]) as
// Chart.js line charts: the joints (elbows, knees, ...) in one, the tilts (shoulders, hips) in another, each
// with the playback cursor and click-to-seek of charts.js. Needs the bundle, common.js and charts.js.
;(function () {
  'use strict'
  const C = window.Cricksy

  const COLOURS = {
    left_elbow: 'rgb(31, 119, 180)',
    right_elbow: 'rgb(255, 127, 14)',
    left_knee: 'rgb(44, 160, 44)',
    right_knee: 'rgb(214, 39, 40)',
    shoulder_tilt: 'rgb(148, 103, 189)',
    hip_tilt: 'rgb(140, 86, 75)',
  }
  const SPARE = ['rgb(227, 119, 194)', 'rgb(127, 127, 127)', 'rgb(188, 189, 34)', 'rgb(23, 190, 207)']

  // "left_elbow" -> "Left elbow"
  function label(name) {
    const words = name.replace(/_/g, ' ')
    return words.charAt(0).toUpperCase() + words.slice(1)
  }

  // The angles that are about a tilt (a line against the horizontal) and the joints' own angles.
  function groups(angles) {
    // In a fixed order (PostgreSQL's jsonb keeps keys in an order of its own): the known ones first.
    const known = Object.keys(COLOURS)
    const rank = (name) => (known.includes(name) ? known.indexOf(name) : known.length)
    const names = Object.keys(angles)
      .filter((name) => Array.isArray(angles[name]) && angles[name].some((point) => point[1] != null))
      .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    return {
      joints: names.filter((name) => !name.includes('tilt')),
      tilts: names.filter((name) => name.includes('tilt')),
    }
  }

  function config(angles, names, duration, onSeek, yTitle, tilts) {
    let spare = 0
    const datasets = names.map((name) => {
      const colour = COLOURS[name] || SPARE[spare++ % SPARE.length]
      return {
        label: label(name),
        name,
        data: angles[name].map(([x, y]) => ({ x, y })),
        borderColor: colour,
        backgroundColor: colour,
        borderWidth: 1.5,
        pointRadius: 0,
        pointHitRadius: 6,
        pointStyle: 'line',
        spanGaps: false,
      }
    })
    const values = datasets.flatMap((d) => d.data.map((p) => p.y)).filter((y) => y != null)
    // Joint angles from 0 to 180° (a straight limb); tilts either side of level, the same both ways.
    const reach = C.charts.niceCeil(Math.max(5, ...values.map(Math.abs)))
    const [low, high] = tilts ? [-reach, reach] : [0, Math.max(180, C.charts.niceCeil(Math.max(...values, 1)))]
    return C.charts.timeChart({
      datasets,
      end: duration,
      y: {
        min: low,
        max: high,
        ticks: { callback: (value) => `${C.charts.NUMBER.format(value)}°` },
        title: { display: true, text: yTitle },
      },
      onSeek,
      tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${Math.round(item.parsed.y)}°` } },
    })
  }

  // Draws the charts into root's [data-angles-joints] and [data-angles-tilts] canvases (hiding a chart
  // with nothing to show); returns the charts drawn.
  function render(root, pose, duration, onSeek) {
    const angles = (pose && pose.angles) || {}
    const found = groups(angles)
    const end = duration || Math.max(1, ...Object.values(angles).flatMap((l) => l.map((p) => p[0])))
    const charts = []
    for (const [group, title] of [
      ['joints', 'joint angle'],
      ['tilts', 'tilt'],
    ]) {
      const canvas = root.querySelector(`[data-angles-${group}]`)
      const box = canvas.closest('.cricksy-chart')
      box.hidden = found[group].length === 0
      const drawn = box.hidden ? null : config(angles, found[group], end, onSeek, title, group === 'tilts')
      const chart = C.charts.draw(canvas, drawn)
      if (chart) charts.push(chart)
    }
    return charts
  }

  C.renderAngles = render
})()
