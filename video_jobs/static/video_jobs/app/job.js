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

  function posterUrl(job) {
    const name = job.result && job.result.poster && job.result.poster.artifact
    const artifact = (job.artifacts || []).find((a) => a.name === name)
    return artifact ? artifact.url : ''
  }

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
    if (job.status === 'done' && job.result) {
      C.renderAnalysis(analysis, job.result, posterUrl(job))
      analysisCard.hidden = false
    }
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

  poll()
})()
