// One job's page: its status, stage and progress kept current until the job is final; then, for a done
// job, its analysis (analysis.js) and, for a failed one, what went wrong in words.
;(function () {
  'use strict'
  const C = window.Cricksy
  const config = C.config('job-config')
  const POLL_MS = 2000

  const card = document.getElementById('job')
  const status = document.getElementById('job-status')
  const stage = document.getElementById('job-stage')
  const progress = document.getElementById('job-progress')
  const percent = document.getElementById('job-percent')
  const error = document.getElementById('job-error')
  const analysisCard = document.getElementById('job-analysis-card')
  const analysis = document.getElementById('job-analysis')
  const watchCard = document.getElementById('job-watch-card')
  const watch = document.getElementById('job-watch')
  const angles = document.getElementById('job-angles')

  function show(job) {
    const value = job.status === 'done' ? 100 : job.progress
    card.dataset.status = job.status
    status.textContent = C.statusLabel(job.status)
    status.className = `status status-${job.status}`
    stage.textContent = C.stageLabel(job.stage)
    progress.value = value
    percent.textContent = `${value}%`
    const message = C.jobError(job)
    error.textContent = message
    error.hidden = !message
    if (job.status === 'done' && job.result) showDone(job)
  }

  // A done job: its video with the skeleton over it, the angle charts, then the motion analysis; every
  // chart's cursor follows playback, and clicking a chart or a segment seeks the video.
  function showDone(job) {
    const charts = []
    const player = C.renderPlayer(watch, job, { onTime: (time) => C.charts.moveCursors(charts, time) })
    const onSeek = (time) => player.seek(time)
    const duration = job.result.video && job.result.video.duration_seconds
    const pose = job.result.pose
    const drawn = C.renderAngles(angles, pose, duration, onSeek)
    charts.push(...drawn)
    angles.hidden = drawn.length === 0 // no pose analysis, or nobody seen
    watch.querySelector('[data-pose-summary]').textContent = poseSummary(pose)
    watchCard.hidden = false
    const poster = C.artifactUrl(job, (job.result.poster || {}).artifact)
    charts.push(C.renderAnalysis(analysis, job.result, poster, { onSeek }))
    analysisCard.hidden = false
  }

  function poseSummary(pose) {
    if (!pose) return 'No pose analysis for this video.'
    if (!pose.person_frames) return 'Nobody was found in the video: there is no skeleton to draw.'
    const share = Math.round((pose.detected_fraction || 0) * 100)
    return `A person was found in ${share}% of ${pose.sampled_frames} frames sampled at ${pose.sample_fps} a second.`
  }

  async function poll() {
    let job = null
    try {
      job = await C.api(config.jobUrl)
      show(job)
    } catch (failure) {
      error.textContent = `Could not load the job: ${failure.message}`
      error.hidden = false
      if (failure.status === 404 || failure.status === 401 || failure.status === 403) return
    }
    if (job === null || !C.isFinal(job.status)) setTimeout(poll, POLL_MS)
  }

  C.localiseTimes()
  poll()
})()
