// The list of the user's jobs on the upload page: one row per job, polled while any can still move. A job
// whose video this page is sending shows that upload's progress (from Uppy) rather than the server's
// "waiting for the upload", so a file never appears twice in disagreement. Cancel and delete ask first.
// Needs common.js; uploader.js starts it with its Uppy (C.jobs.start).
;(function () {
  'use strict'
  const C = window.Cricksy
  const POLL_MS = 2000

  const list = document.getElementById('jobs')
  const empty = document.getElementById('jobs-empty')
  const errorBox = document.getElementById('jobs-error')
  let uppy = null
  let config = null
  let uploadAgain = () => {}
  let jobs = []
  let timer = null
  let inFlight = false
  let frame = 0
  // The job whose row asks "Cancel this upload?" or "Delete ...?" just now (one at a time), and which.
  let asking = null

  function showError(message, source = 'uploader') {
    errorBox.textContent = message
    errorBox.hidden = !message
    errorBox.dataset.source = source
  }

  // --- which Uppy file sends which job's video -----------------------------------------------------------

  // A multipart upload knows its key (videos/<job id>/source, the server's); a form upload's key is known
  // only at its end, so until then the job is the one awaiting a file of that name and size.
  function keyJob(file) {
    const key = file.s3Multipart && file.s3Multipart.key
    const match = key && /^videos\/([0-9a-f-]{36})\//.exec(key)
    return match ? match[1] : null
  }

  function uploadOf(job) {
    if (!uppy || job.status !== 'awaiting_upload') return null
    const files = uppy.getFiles().filter((f) => f.progress.uploadStarted && !f.progress.uploadComplete)
    return (
      files.find((f) => keyJob(f) === job.id) ||
      files.find((f) => !keyJob(f) && f.name === job.filename && f.size === job.size_bytes) ||
      null
    )
  }

  function replacementOf(job) {
    return uppy ? uppy.getFiles().find((f) => f.meta.replaces === job.id) || null : null
  }

  function uploading() {
    return !!uppy && uppy.getFiles().some((f) => f.progress.uploadStarted && !f.progress.uploadComplete && !f.error)
  }

  // A job awaiting its upload moves only when an upload does: while this page sends none, it is settled
  // (the server's reconciler ends an abandoned one at its deadline).
  function settled(job) {
    return C.isFinal(job.status) || (job.status === 'awaiting_upload' && !uploading())
  }

  // --- what a row says ------------------------------------------------------------------------------------

  // Status, stage and percent of a job, or of the upload this page is making for it.
  function state(job) {
    const file = uploadOf(job)
    if (file) {
      const percent = Math.floor(file.progress.percentage || 0)
      if (file.error) return { key: 'upload-error', label: 'Upload stopped', stage: file.error, percent }
      if (file.isPaused) return { key: 'paused', label: 'Paused', stage: 'the upload is paused', percent }
      return { key: 'uploading', label: 'Uploading', stage: 'sending the video', percent }
    }
    if (job.status === 'awaiting_upload') {
      return { key: job.status, label: C.statusLabel(job.status), stage: 'not being sent from this page', percent: null }
    }
    // A final job's bar says nothing its status does not: only a moving one has one.
    const percent = C.isFinal(job.status) ? null : job.progress
    return { key: job.status, label: C.statusLabel(job.status), stage: C.stageLabel(job.stage), percent }
  }

  function facts(job) {
    const parts = [C.bytes(job.size_bytes)]
    const overview = job.overview
    if (overview && overview.duration_seconds != null) parts.push(C.clock(overview.duration_seconds))
    if (overview && overview.segment_count != null) {
      parts.push(`${overview.segment_count} high-activity segment${overview.segment_count === 1 ? '' : 's'}`)
    }
    return parts.join(' · ')
  }

  function thumbnail(job) {
    const url = job.overview && job.overview.poster_url
    if (url) return C.element('img', { className: 'thumb', src: url, alt: '', loading: 'lazy' })
    return C.element('span', { className: 'thumb thumb-empty', 'aria-hidden': 'true' })
  }

  function button(text, className, onClick) {
    const node = C.element('button', { type: 'button', className, text })
    node.addEventListener('click', onClick)
    return node
  }

  function actions(job) {
    if (asking && asking.id === job.id) {
      const question =
        asking.what === 'cancel'
          ? `Cancel the upload of ${job.filename}?`
          : `Delete ${job.filename} and its analysis?`
      return C.element(
        'span',
        { className: 'confirm', role: 'group', 'aria-label': question },
        C.element('span', { text: question }),
        button(asking.what === 'cancel' ? 'Yes, cancel' : 'Yes, delete', 'danger', () => act(job)),
        button('No', 'keep', () => ask(null)),
      )
    }
    const buttons = []
    if (job.status === 'awaiting_upload' || job.status === 'queued') {
      buttons.push(button('Cancel', 'cancel', () => ask({ id: job.id, what: 'cancel' })))
    }
    if (job.status === 'failed' && !replacementOf(job)) {
      buttons.push(button('Upload again', 'again', () => uploadAgain(job)))
    }
    if (C.isFinal(job.status)) {
      buttons.push(button('Delete', 'delete', () => ask({ id: job.id, what: 'delete' })))
    }
    return buttons.length ? C.element('span', { className: 'actions' }, ...buttons) : null
  }

  function jobItem(job) {
    const now = state(job)
    const error = C.jobError(job)
    const again = job.status === 'failed' && replacementOf(job)
    return C.element(
      'li',
      {
        className: `job job-${job.status}`,
        'data-job-id': job.id,
        'data-status': job.status,
        'data-shown': now.key,
      },
      thumbnail(job),
      C.element(
        'div',
        { className: 'job-body' },
        C.element(
          'div',
          { className: 'job-head' },
          C.element('a', { href: `${config.appUrl}jobs/${job.id}/`, className: 'filename', text: job.filename }),
          C.element('time', { datetime: job.created_at, text: C.moment(job.created_at) }),
        ),
        C.element('div', { className: 'facts', text: facts(job) }),
        C.element(
          'div',
          { className: 'state' },
          C.element('span', { className: `status status-${now.key}`, text: now.label }),
          C.element('span', { className: 'stage', text: now.stage }),
          now.percent == null
            ? null
            : C.element('progress', { max: '100', value: String(now.percent), text: `${now.percent}%` }),
          now.percent == null ? null : C.element('span', { className: 'percent', text: `${now.percent}%` }),
          actions(job),
        ),
        error ? C.element('p', { className: 'error reason', text: error }) : null,
        again ? C.element('p', { className: 'hint', text: 'Being uploaded again above.' }) : null,
      ),
    )
  }

  // --- acting on a job ------------------------------------------------------------------------------------

  function ask(question) {
    asking = question
    redraw()
  }

  async function act(job) {
    const what = asking.what
    asking = null
    try {
      if (what === 'cancel') await cancel(job)
      else await remove(job.id)
      showError('')
    } catch (error) {
      showError(`Could not ${what} ${job.filename}: ${error.message}`)
    }
    refresh()
  }

  async function cancel(job) {
    // Stop sending first: removing a file from Uppy aborts its upload (a multipart one also cancels the job
    // through our Uppy route); the API's cancel is what the server goes by either way.
    const file = uploadOf(job)
    if (file) uppy.removeFile(file.id)
    try {
      await C.api(`${config.jobsUrl}${job.id}/cancel/`, { method: 'POST' })
    } catch (error) {
      if (!(error.status === 409 && error.body && error.body.status === 'cancelled')) throw error
    }
  }

  async function remove(jobId) {
    await C.api(`${config.jobsUrl}${jobId}/`, { method: 'DELETE' })
  }

  // --- keeping the list current ----------------------------------------------------------------------

  // Rows that say what they said before stay as they are (their thumbnail is not loaded again, a button
  // being pressed is not swapped under the pointer); the others are replaced.
  function draw() {
    frame = 0
    const old = new Map([...list.children].map((row) => [row.dataset.jobId, row]))
    const rows = jobs.map((job) => {
      const row = jobItem(job)
      const before = old.get(job.id)
      return before && before.outerHTML === row.outerHTML ? before : row
    })
    list.replaceChildren(...rows)
    empty.hidden = jobs.length > 0
  }

  // Uppy's progress events come many times a second: draw at most once a frame.
  function redraw() {
    if (!frame) frame = requestAnimationFrame(draw)
  }

  async function refresh() {
    clearTimeout(timer)
    timer = null
    if (inFlight) return
    inFlight = true
    let fetched = null
    try {
      const page = await C.api(`${config.jobsUrl}?page_size=50`)
      fetched = page.results
      jobs = fetched
      draw()
      if (errorBox.dataset.source === 'list') showError('', 'list')
    } catch (error) {
      showError(`Could not load your videos: ${error.message}`, 'list')
    } finally {
      inFlight = false
    }
    // Poll while something can still change; stop once every job has settled.
    if (fetched === null || uploading() || fetched.some((job) => !settled(job))) {
      timer = setTimeout(refresh, POLL_MS)
    }
  }

  // Something happened in the uploader: look now, and keep polling if that is needed.
  function kick() {
    if (timer === null && !inFlight) refresh()
  }

  function start(options) {
    ;({ uppy, config, uploadAgain } = options)
    refresh()
  }

  C.jobs = { start, refresh, kick, redraw, remove, showError }
})()
