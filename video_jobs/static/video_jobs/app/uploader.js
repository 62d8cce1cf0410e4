// The coaches' upload page: an Uppy Dashboard that sends videos straight to S3 through our Uppy
// (Companion-shaped) routes, and the list of the user's jobs (jobs.js), kept current while any of them moves.
// Needs the bundle (window.CricksyUppy), common.js and jobs.js; its configuration comes from the page
// (json_script).
;(function () {
  'use strict'
  const C = window.Cricksy
  const config = C.config('uploader-config')
  const { Uppy, Dashboard, AwsS3 } = window.CricksyUppy

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
      // Uppy's own toast covers the files and says "You can only upload: video/*, ..." without naming the
      // file: refusals are told below the Dashboard instead (refused()).
      disableInformer: true,
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

  // --- refusals, in a line of our own that names the file ---------------------------------------------

  const refusal = document.getElementById('upload-refused')

  function refusalReason(file) {
    if (file.size != null && file.size > config.maxFileSize) {
      return `it is larger than ${C.bytes(config.maxFileSize)}, the most the service accepts`
    }
    if (file.size === 0) return 'it is empty'
    if (file.type && !file.type.startsWith('video/') && !config.allowedFileTypes.includes(file.type)) {
      return 'it is not a video (MP4, MOV, MKV, WebM or AVI)'
    }
    return null
  }

  uppy.on('restriction-failed', (file, error) => {
    if (!file) return
    const reason = refusalReason(file) || error.message
    refusal.textContent = `${file.name} was not added: ${reason}.`
    refusal.hidden = false
  })
  uppy.on('file-added', () => {
    refusal.hidden = true
  })

  // --- the upload's end --------------------------------------------------------------------------------

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
        C.jobs.showError('The video was uploaded, but the service did not accept it. See its job below.')
        return
      }
      await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** attempt))
    }
    C.jobs.showError('The video was uploaded, but the service could not check it yet; it will be checked later.')
  }

  uppy.on('upload-success', async (file, response) => {
    if (!multipart(file) && response && response.body && response.body.key) {
      await confirmSingleUpload(response.body.key)
    }
    // "Upload again": the failed job this file replaces goes once the new one is safely up.
    const replaces = file.meta.replaces
    if (replaces) await C.jobs.remove(replaces)
    C.jobs.refresh()
  })
  for (const event of ['upload-start', 'upload-error', 'upload-pause', 'upload-retry', 'resume-all']) {
    uppy.on(event, () => C.jobs.kick())
  }
  // The list shows each upload's progress in its job's row (never a second row for the same file).
  for (const event of ['upload-progress', 'file-removed', 'upload-pause', 'upload-error']) {
    uppy.on(event, () => C.jobs.redraw())
  }

  // --- "Upload again" of a failed job -------------------------------------------------------------------

  const picker = document.getElementById('upload-again')
  let replacing = null

  function uploadAgain(job) {
    replacing = job
    picker.value = ''
    picker.click()
  }

  picker.addEventListener('change', () => {
    const [data] = picker.files
    if (!data || !replacing) return
    let id = null
    try {
      id = uppy.addFile({ name: data.name, type: data.type, data, source: 'upload-again' })
    } catch {
      return // refused: restriction-failed has said why
    }
    uppy.setFileMeta(id, { replaces: replacing.id })
    replacing = null
    uppy.upload()
  })

  C.uppy = uppy
  C.jobs.start({ uppy, config, uploadAgain })
})()
