// What the coaches' pages and the admin's job page share: the CSRF header, JSON calls to the API, the
// words a person reads for a job's status, stage and times, and where a job's artifacts are. A classic
// script: it defines window.Cricksy.
;(function () {
  'use strict'

  const STATUS = {
    awaiting_upload: 'Waiting for the upload',
    queued: 'Queued',
    processing: 'Analysing',
    done: 'Done',
    failed: 'Failed',
    cancelled: 'Cancelled',
  }
  const STAGE = {
    awaiting_upload: 'waiting for the video',
    queued: 'waiting for a worker',
    downloading: 'downloading the video',
    analyzing: 'analysing the video',
    storing_results: 'storing the results',
    done: 'finished',
    failed: 'stopped',
    cancelled: 'cancelled',
  }
  // Shown when a failed job carries a code but (unusually) no message of its own.
  const ERRORS = {
    upload_missing: 'The video never arrived in storage.',
    upload_size_mismatch: 'The stored video is not the size that was announced.',
    upload_too_large: 'The video is larger than the service accepts.',
    upload_expired: 'The upload was not finished in time.',
    upload_changed: 'The video was replaced after it was checked.',
    upload_checksum_mismatch: 'The video arrived damaged (its checksum does not match).',
    invalid_video: 'The file is not a video we can read.',
    video_limits_exceeded: 'The video is larger or longer than the service accepts.',
    analysis_timeout: 'The analysis took too long.',
    analysis_crashed: 'The analysis stopped unexpectedly.',
    attempts_exhausted: 'The analysis failed several times.',
    lost: 'The analysis was interrupted too many times.',
  }
  const FINAL = new Set(['done', 'failed', 'cancelled'])

  function cookie(name) {
    for (const part of document.cookie.split(';')) {
      const [key, ...value] = part.trim().split('=')
      if (key === name) return decodeURIComponent(value.join('='))
    }
    return ''
  }

  // Django's CSRF protection, as its documentation describes it for fetch: the csrftoken cookie's value
  // in X-CSRFToken on every unsafe request.
  async function api(url, { method = 'GET' } = {}) {
    const headers = { Accept: 'application/json' }
    if (method !== 'GET' && method !== 'HEAD') headers['X-CSRFToken'] = cookie('csrftoken')
    const response = await fetch(url, { method, headers, credentials: 'same-origin' })
    let body = null
    try {
      body = await response.json()
    } catch {
      body = null
    }
    if (!response.ok) {
      const error = new Error(plainError(response, body))
      error.status = response.status
      error.body = body
      throw error
    }
    return body
  }

  // An API error in words: the server's own sentence when it gave one, never its JSON.
  function plainError(response, body) {
    if (response.status === 401 || response.status === 403) return 'Your session has ended: log in again.'
    if (response.status === 404) return 'Not found.'
    if (body && typeof body.detail === 'string') return body.detail
    if (body && typeof body.error_message === 'string' && body.error_message) return body.error_message
    if (response.status >= 500) return 'The service is unavailable just now; it will be retried.'
    return `The request failed (${response.status} ${response.statusText}).`
  }

  function jobError(job) {
    if (job.status !== 'failed') return ''
    return job.error_message || ERRORS[job.error_code] || 'The analysis failed.'
  }

  // 83.5 -> "01:23"; an hour or more -> "1:02:03".
  function clock(seconds) {
    const total = Math.max(0, Math.floor(seconds))
    const h = Math.floor(total / 3600)
    const m = Math.floor((total % 3600) / 60)
    const s = total % 60
    const pad = (n) => String(n).padStart(2, '0')
    return h ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`
  }

  // One format for a moment everywhere on the pages: the reader's own locale and time zone, the date in
  // words of medium length and the time to the minute ("7 Dec 2026, 16:25" in en-GB).
  const MOMENT = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

  function moment(iso) {
    return iso ? MOMENT.format(new Date(iso)) : ''
  }

  // <time datetime="..." data-moment> written by the server (in UTC) gets the reader's format.
  function localiseTimes(root = document) {
    for (const node of root.querySelectorAll('time[data-moment]')) {
      node.textContent = moment(node.getAttribute('datetime'))
    }
  }

  function bytes(n) {
    if (n == null) return ''
    const units = ['bytes', 'KB', 'MB', 'GB', 'TB']
    let value = n
    let unit = 0
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024
      unit += 1
    }
    return unit === 0 ? `${value} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
  }

  function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag)
    for (const [name, value] of Object.entries(attributes)) {
      if (value == null || value === false) continue
      if (name === 'text') node.textContent = value
      else if (name === 'className') node.className = value
      else node.setAttribute(name, value === true ? '' : value)
    }
    node.append(...children.filter((child) => child != null))
    return node
  }

  // The URL of the job's artifact called `name` (its download through the API), or '' when it has none.
  function artifactUrl(job, name) {
    const artifact = (job.artifacts || []).find((a) => a.name === name)
    return artifact ? artifact.url : ''
  }

  function config(id) {
    return JSON.parse(document.getElementById(id).textContent)
  }

  window.Cricksy = Object.assign(window.Cricksy || {}, {
    api,
    artifactUrl,
    bytes,
    clock,
    config,
    element,
    isFinal: (status) => FINAL.has(status),
    jobError,
    localiseTimes,
    moment,
    stageLabel: (stage) => STAGE[stage] || stage,
    statusLabel: (status) => STATUS[status] || status,
  })
})()
