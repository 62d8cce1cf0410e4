// The coaches' upload page: an Uppy Dashboard that sends videos straight to S3 through our Uppy
// (Companion-shaped) routes, and the list of the user's jobs, kept current while any of them moves.
// Needs the bundle (window.CricksyUppy) and common.js; its configuration comes from the page (json_script).
;(function () {
  'use strict'
  const C = window.Cricksy
  const config = C.config('uploader-config')
  const { Uppy, Dashboard, AwsS3 } = window.CricksyUppy
  const POLL_MS = 2000

  // The server decides part sizes and signs each part for its exact length; the page only has to agree
  // with it on which files go up in parts.
  const multipart = (file) => file.size > config.multipartThreshold

  const uppy = new Uppy({
    id: 'cricksy',
    restrictions: {
      allowedFileTypes: config.allowedFileTypes,
      maxFileSize: config.maxFileSize,
      minFileSize: 1,
    },
  })
    .use(Dashboard, {
      inline: true,
      target: '#uploader',
      width: '100%',
      height: 340,
      showProgressDetails: true,
      proudlyDisplayPoweredByUppy: false,
      note: `Video files (MP4, MOV, MKV, WebM, AVI) up to ${C.bytes(config.maxFileSize)}`,
    })
    .use(AwsS3, {
      companionEndpoint: config.companionEndpoint,
      shouldUseMultipart: multipart,
      // The server needs the size when it creates the job (Uppy does not send it by itself); nothing else
      // of the file's metadata leaves the page.
      allowedMetaFields: ['name', 'type', 'size', 'file_id'],
    })

  // file_id stands for an Idempotency-Key at create: a retried create gets the same job back. Uppy's own id
  // is the same for the same file every time, so it is made unique per adding: uploading a file again
  // (after its job failed, say) makes a new job.
  uppy.on('file-added', (file) =>
    uppy.setFileMeta(file.id, { size: file.size, file_id: `${file.id}-${Date.now()}` }),
  )

  // A single-request upload is a form POST straight to S3, after which Uppy tells the server nothing: the
  // page asks the server to check the object (HeadObject) and queue the job. Retried on a transient answer;
  // if it never gets through, the server's reconciler queues the job once the upload deadline passes.
  async function confirmSingleUpload(key) {
    const url = `${config.companionEndpoint}/s3/params/complete?key=${encodeURIComponent(key)}`
    for (let attempt = 0; attempt < 4; attempt += 1) {
      let response = null
      try {
        response = await fetch(url, { method: 'POST', credentials: 'same-origin' })
      } catch {
        response = null // the network: try again
      }
      if (response && response.ok) return
      if (response && response.status < 500 && response.status !== 429) {
        showError('The video was uploaded, but the service did not accept it. See its job below.')
        return
      }
      await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** attempt))
    }
    showError('The video was uploaded, but the service could not check it yet; it will be checked later.')
  }

  uppy.on('upload-success', async (file, response) => {
    if (!multipart(file) && response && response.body && response.body.key) {
      await confirmSingleUpload(response.body.key)
    }
    refresh()
  })
  for (const event of ['upload-start', 'upload-error', 'upload-pause', 'upload-retry', 'resume-all']) {
    uppy.on(event, () => kick())
  }

  // --- the jobs list ------------------------------------------------------------------------------------

  const list = document.getElementById('jobs')
  const empty = document.getElementById('jobs-empty')
  const errorBox = document.getElementById('jobs-error')
  let timer = null
  let inFlight = false

  function showError(message, source = 'uploader') {
    errorBox.textContent = message
    errorBox.hidden = !message
    errorBox.dataset.source = source
  }

  function uploading() {
    return uppy.getFiles().some((f) => f.progress.uploadStarted && !f.progress.uploadComplete && !f.error)
  }

  // A job awaiting its upload moves only when an upload does: while this page sends none, it is settled
  // (the server's reconciler ends an abandoned one at its deadline).
  function settled(job) {
    return C.isFinal(job.status) || (job.status === 'awaiting_upload' && !uploading())
  }

  async function cancel(job, button) {
    button.disabled = true
    try {
      await C.api(`${config.jobsUrl}${job.id}/cancel/`, { method: 'POST' })
      showError('')
    } catch (error) {
      showError(`Could not cancel ${job.filename}: ${error.message}`)
    }
    refresh()
  }

  function jobItem(job) {
    const percent = job.status === 'done' ? 100 : job.progress
    const cancellable = job.status === 'awaiting_upload' || job.status === 'queued'
    const button = cancellable ? C.element('button', { type: 'button', className: 'cancel', text: 'Cancel' }) : null
    if (button) button.addEventListener('click', () => cancel(job, button))
    const error = C.jobError(job)
    return C.element(
      'li',
      { className: `job status-${job.status}`, 'data-job-id': job.id, 'data-status': job.status },
      C.element(
        'div',
        { className: 'job-head' },
        C.element('a', { href: `${config.appUrl}jobs/${job.id}/`, className: 'filename', text: job.filename }),
        C.element('span', { className: 'size', text: C.bytes(job.size_bytes) }),
        C.element('time', {
          datetime: job.created_at,
          text: new Date(job.created_at).toLocaleString(),
        }),
      ),
      C.element(
        'div',
        { className: 'state' },
        C.element('span', { className: `status status-${job.status}`, text: C.statusLabel(job.status) }),
        C.element('span', { className: 'stage', text: C.stageLabel(job.stage) }),
        C.element('progress', { max: '100', value: String(percent), text: `${percent}%` }),
        C.element('span', { className: 'percent', text: `${percent}%` }),
        button,
      ),
      error ? C.element('p', { className: 'error', text: error }) : null,
    )
  }

  async function refresh() {
    clearTimeout(timer)
    timer = null
    if (inFlight) return
    inFlight = true
    let jobs = null
    try {
      const page = await C.api(`${config.jobsUrl}?page_size=50`)
      jobs = page.results
      list.replaceChildren(...jobs.map(jobItem))
      empty.hidden = jobs.length > 0
      if (errorBox.dataset.source === 'list') showError('', 'list')
    } catch (error) {
      showError(`Could not load your videos: ${error.message}`, 'list')
    } finally {
      inFlight = false
    }
    // Poll while something can still change; stop once every job has settled.
    if (jobs === null || uploading() || jobs.some((job) => !settled(job))) {
      timer = setTimeout(refresh, POLL_MS)
    }
  }

  // Something happened in the uploader: look now, and keep polling if that is needed.
  function kick() {
    if (timer === null && !inFlight) refresh()
  }

  C.uppy = uppy
  C.refreshJobs = refresh
  refresh()
})()
