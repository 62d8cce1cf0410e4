// A done job's video, played in the page through the artifacts endpoint (a 302 to a short-lived presigned
// GET), with the pose track (pose-track.json: landmarks normalised 0..1 to the frame, sampled a few times a
// second) drawn over it on a canvas in step with playback. A video this browser cannot play (HEVC in
// Chromium, MPEG-4 Part 2 in an AVI, ...) leaves the still with the skeleton (pose.jpg) or the poster, and a
// line saying why. Needs common.js; adds C.renderPlayer.
;(function () {
  'use strict'
  const C = window.Cricksy
  const BONE = 'rgba(255, 214, 0, 0.95)'
  const JOINT = 'rgba(255, 255, 255, 0.95)'
  const OUTLINE = 'rgba(0, 0, 0, 0.55)'
  const VISIBLE = 0.5 // landmarks seen less surely than this are not drawn

  // The frame of the track nearest to `time`, if one was sampled close enough to stand for it.
  function frameAt(track, time) {
    const frames = track.frames
    let low = 0
    let high = frames.length - 1
    if (high < 0) return null
    while (low < high) {
      const middle = (low + high) >> 1
      if (frames[middle].t < time) low = middle + 1
      else high = middle
    }
    const after = frames[low]
    const before = frames[Math.max(0, low - 1)]
    const nearest = Math.abs(before.t - time) <= Math.abs(after.t - time) ? before : after
    return Math.abs(nearest.t - time) <= track.tolerance ? nearest : null
  }

  // Where the picture is inside the element (object-fit: contain letterboxes it).
  function pictureBox(width, height, videoWidth, videoHeight) {
    const scale = Math.min(width / videoWidth, height / videoHeight)
    const w = videoWidth * scale
    const h = videoHeight * scale
    return { x: (width - w) / 2, y: (height - h) / 2, w, h }
  }

  function drawSkeleton(canvas, track, frame, box) {
    const ratio = window.devicePixelRatio || 1
    const ctx = canvas.getContext('2d')
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0)
    ctx.clearRect(0, 0, canvas.width, canvas.height)
    canvas.dataset.frameTime = frame && frame.points ? String(frame.t) : ''
    if (!frame || !frame.points) return 0
    const at = (i) => {
      const point = frame.points[i]
      if (!point || (point[2] != null && point[2] < VISIBLE)) return null
      return [box.x + point[0] * box.w, box.y + point[1] * box.h]
    }
    ctx.lineCap = 'round'
    for (const [colour, width] of [
      [OUTLINE, 5],
      [BONE, 3],
    ]) {
      ctx.strokeStyle = colour
      ctx.lineWidth = width
      ctx.beginPath()
      for (const [i, j] of track.connections) {
        const a = at(i)
        const b = at(j)
        if (!a || !b) continue
        ctx.moveTo(a[0], a[1])
        ctx.lineTo(b[0], b[1])
      }
      ctx.stroke()
    }
    let drawn = 0
    ctx.fillStyle = JOINT
    ctx.strokeStyle = OUTLINE
    ctx.lineWidth = 1
    for (let i = 0; i < frame.points.length; i += 1) {
      const p = at(i)
      if (!p) continue
      ctx.beginPath()
      ctx.arc(p[0], p[1], 3, 0, 2 * Math.PI)
      ctx.fill()
      ctx.stroke()
      drawn += 1
    }
    canvas.dataset.points = String(drawn)
    return drawn
  }

  async function loadTrack(url) {
    if (!url) return null
    const response = await fetch(url, { credentials: 'same-origin' })
    if (!response.ok) throw new Error(`pose track: ${response.status}`)
    const track = await response.json()
    const fps = track.sample_fps || 10
    track.frames = (track.frames || []).slice().sort((a, b) => a.t - b.t)
    track.connections = track.connections || []
    // Half a sample either way: between two samples the nearer stands for the moment.
    track.tolerance = 0.75 / fps
    return track
  }

  function unplayableReason(job, video) {
    const codec = job.result && job.result.video && job.result.video.codec
    const what = codec ? `its ${codec.toUpperCase()} video` : 'its video format'
    const code = video.error ? video.error.code : 0
    if (code === 2) return 'The video could not be loaded over the network: reload the page to try again.'
    return (
      `This browser cannot play ${what}, so the video does not play here: the still below shows the ` +
      'skeleton at the moment of greatest activity, and the charts show the whole video.'
    )
  }

  // root: the markup of job.html's watch card. Returns { seek(seconds) }; onTime(seconds) is called as the
  // video plays and seeks.
  function render(root, job, { onTime = () => {} } = {}) {
    const video = root.querySelector('[data-video]')
    const canvas = root.querySelector('[data-skeleton]')
    const stage = root.querySelector('[data-player]')
    const still = root.querySelector('[data-still]')
    const note = root.querySelector('[data-unplayable]')
    const toggle = root.querySelector('[data-skeleton-toggle]')
    const stillUrl = C.artifactUrl(job, 'pose.jpg') || C.artifactUrl(job, (job.result.poster || {}).artifact)
    let track = null
    let playable = true

    function showStill(reason) {
      playable = false
      stage.hidden = true
      note.textContent = reason
      note.hidden = false
      if (stillUrl) {
        still.querySelector('img').src = stillUrl
        still.hidden = false
      }
    }

    function draw() {
      if (!playable || !video.videoWidth) return
      const ratio = window.devicePixelRatio || 1
      const width = video.clientWidth
      const height = video.clientHeight
      if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
        canvas.width = Math.round(width * ratio)
        canvas.height = Math.round(height * ratio)
      }
      const frame = track && toggle.checked ? frameAt(track, video.currentTime) : null
      drawSkeleton(canvas, track, frame, pictureBox(width, height, video.videoWidth, video.videoHeight))
    }

    function tick() {
      draw()
      onTime(video.currentTime)
    }

    // Every presented frame where the browser says which (requestVideoFrameCallback), else every paint.
    function follow() {
      if (video.requestVideoFrameCallback) {
        const onFrame = () => {
          tick()
          video.requestVideoFrameCallback(onFrame)
        }
        video.requestVideoFrameCallback(onFrame)
      } else {
        const onPaint = () => {
          if (!video.paused) tick()
          requestAnimationFrame(onPaint)
        }
        requestAnimationFrame(onPaint)
      }
    }

    const source = C.artifactUrl(job, 'source')
    if (!source) {
      showStill('The video itself was deleted after the retention period; its analysis stays.')
    } else {
      video.addEventListener('error', () => showStill(unplayableReason(job, video)))
      for (const event of ['loadeddata', 'seeked', 'timeupdate', 'pause']) video.addEventListener(event, tick)
      toggle.addEventListener('change', draw)
      new ResizeObserver(draw).observe(video)
      video.src = source
      follow()
    }
    loadTrack(C.artifactUrl(job, 'pose-track.json'))
      .then((loaded) => {
        track = loaded
        C.poseTrack = loaded // for a look from the console (and the browser tests)
        root.dataset.track = loaded ? 'loaded' : 'none'
        draw()
      })
      .catch(() => {
        root.dataset.track = 'failed'
      })

    return {
      seek(seconds) {
        if (playable && video.readyState >= 1) {
          video.currentTime = Math.min(seconds, video.duration || seconds)
        } else if (playable) {
          video.addEventListener('loadedmetadata', () => (video.currentTime = seconds), { once: true })
        }
        onTime(seconds)
      },
    }
  }

  C.renderPlayer = render
})()
