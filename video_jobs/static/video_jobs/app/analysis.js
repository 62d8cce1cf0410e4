// One job's analysis, drawn into the markup of templates/video_jobs/app/_analysis.html: the poster frame,
// the video's facts, the motion timeline as a Chart.js line chart with the high-activity segments shaded,
// and the segments as times. Written once for the coaches' job page (which calls Cricksy.renderAnalysis
// with the job from the API) and the admin's job page (whose partial carries the result as JSON: drawn on
// load). On the job page the chart and the segments also seek the video (options.onSeek) and the chart
// follows playback (C.charts.moveCursors). Needs the bundle (window.CricksyChart), common.js and charts.js.
;(function () {
  'use strict'
  const C = window.Cricksy

  const MOTION_COLOUR = 'rgb(31, 119, 180)'
  const SEGMENT_COLOUR = 'rgba(255, 140, 0, 0.28)'
  const THRESHOLD_COLOUR = 'rgba(200, 40, 40, 0.8)'

  function facts(video) {
    const rows = []
    if (video.duration_seconds != null) {
      rows.push(['Duration', `${C.clock(video.duration_seconds)} (${video.duration_seconds.toFixed(1)} s)`])
    }
    if (video.width && video.height) rows.push(['Resolution', `${video.width} × ${video.height}`])
    if (video.fps) rows.push(['Frame rate', `${Number(video.fps.toFixed(2))} fps`])
    // (The container's FFmpeg name, "mov,mp4,m4a,3gp,3g2,mj2", says little to a coach: the raw result has it.)
    if (video.codec) rows.push(['Codec', video.codec])
    if (video.frames != null) rows.push(['Frames', String(video.frames)])
    return rows
  }

  // The shaded boxes: one polygon per segment, from the x axis up to `top`, separated by a null point so
  // that Chart.js neither joins nor fills between them.
  function segmentPoints(segments, top) {
    return segments.flatMap((s) => [
      { x: s.start_seconds, y: top },
      { x: s.end_seconds, y: top },
      { x: s.end_seconds, y: null },
    ])
  }

  function chartConfig(motion, duration, onSeek) {
    const interval = motion.timeline_interval_seconds || 0.25
    const timeline = (motion.timeline || []).map((y, i) => ({ x: i * interval, y }))
    const values = timeline.map((p) => p.y).filter((y) => y != null)
    // A round top (a raw 27.830000000000002 read badly), which the segments' boxes reach.
    const top = C.charts.niceCeil(Math.max(1, motion.threshold || 0, ...values) * 1.05)
    const end = duration || timeline.length * interval
    const datasets = [
      {
        label: 'Motion',
        data: timeline,
        borderColor: MOTION_COLOUR,
        backgroundColor: MOTION_COLOUR,
        borderWidth: 1.5,
        pointRadius: 0,
        pointStyle: 'line',
        spanGaps: false,
        order: 1,
      },
      {
        label: 'High activity',
        data: segmentPoints(motion.segments || [], top),
        segments: motion.segments || [],
        borderWidth: 0,
        borderColor: SEGMENT_COLOUR,
        backgroundColor: SEGMENT_COLOUR,
        fill: 'origin',
        pointRadius: 0,
        pointStyle: 'rect',
        spanGaps: false,
        order: 3,
      },
    ]
    if (motion.threshold != null) {
      datasets.push({
        label: 'Threshold',
        data: [{ x: 0, y: motion.threshold }, { x: end, y: motion.threshold }],
        borderColor: THRESHOLD_COLOUR,
        borderDash: [6, 4],
        borderWidth: 1.5,
        pointRadius: 0,
        // In the legend: a dashed line, as drawn (a box would say "area").
        pointStyle: 'line',
        order: 2,
      })
    }
    return C.charts.timeChart({
      datasets,
      end,
      y: { min: 0, max: top, ticks: C.charts.valueTicks, title: { display: true, text: 'activity' } },
      onSeek,
      tooltip: { filter: (item) => item.dataset.label === 'Motion' },
    })
  }

  // A segment in whole seconds: 3.0-5.25 s reads 00:03–00:05; one shorter than a second still spans one.
  function span(start, end) {
    const from = Math.floor(start)
    return `${C.clock(from)}–${C.clock(Math.max(from + 1, Math.round(end)))}`
  }

  function segmentList(list, motion, onSeek) {
    const segments = motion.segments || []
    list.replaceChildren()
    if (!segments.length) {
      list.append(C.element('li', { className: 'none', text: 'No high-activity segments found.' }))
      return
    }
    for (const s of segments) {
      const text = span(s.start_seconds, s.end_seconds)
      let content = text
      if (onSeek) {
        content = C.element('button', { type: 'button', className: 'seek', text, title: `Play from ${text}` })
        content.addEventListener('click', () => onSeek(s.start_seconds))
      }
      list.append(C.element('li', { 'data-start': s.start_seconds, 'data-end': s.end_seconds }, content))
    }
    if (motion.segment_count > segments.length) {
      list.after(
        C.element('p', {
          className: 'hint',
          text: `The ${segments.length} strongest of ${motion.segment_count} segments.`,
        }),
      )
    }
  }

  // Draws the analysis; returns its motion chart (whose cursor the job page moves).
  function render(root, result, posterUrl, { onSeek = null } = {}) {
    const video = (result && result.video) || {}
    const motion = (result && result.motion) || {}
    const poster = (result && result.poster) || null

    const figure = root.querySelector('[data-poster-figure]')
    if (posterUrl) {
      const img = root.querySelector('[data-poster]')
      if (img.getAttribute('src') !== posterUrl) img.src = posterUrl
      if (poster) {
        root.querySelector('[data-poster-caption]').textContent =
          `Poster frame at ${C.clock(poster.time_seconds)}` +
          (poster.width ? ` (${poster.width} × ${poster.height})` : '')
      }
      figure.hidden = false
    } else {
      figure.hidden = true
    }

    const dl = root.querySelector('[data-facts]')
    dl.replaceChildren()
    for (const [term, value] of facts(video)) {
      dl.append(C.element('dt', { text: term }), C.element('dd', { text: value }))
    }

    const chart = C.charts.draw(root.querySelector('[data-chart]'), chartConfig(motion, video.duration_seconds, onSeek))

    segmentList(root.querySelector('[data-segments]'), motion, onSeek)
    root.hidden = false
    return chart
  }

  // A partial that carries its result (the admin's) is drawn as soon as the page is ready.
  function renderEmbedded() {
    for (const root of document.querySelectorAll('[data-analysis][data-result]')) {
      const result = JSON.parse(document.getElementById(root.dataset.result).textContent)
      render(root, result, root.dataset.posterUrl || '')
    }
  }

  C.renderAnalysis = render
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', renderEmbedded)
  else renderEmbedded()
})()
