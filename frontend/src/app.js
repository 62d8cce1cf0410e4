// Entry of the coaches' page bundle (built by `npm run build` into video_jobs/static/video_jobs/vendor/).
//
// The bundle is a classic script (IIFE), so a Django template loads it with a plain <script src> and no
// module loader. It exposes two globals and nothing else:
//   window.CricksyUppy  = { Uppy, Dashboard, AwsS3 }   (@uppy/core, @uppy/dashboard, @uppy/aws-s3)
//   window.CricksyChart = Chart                          (chart.js with every chart type registered)
// The stylesheets below are collected by esbuild into cricksy-app.css next to the script.
import AwsS3 from '@uppy/aws-s3'
import { Uppy } from '@uppy/core'
import Dashboard from '@uppy/dashboard'
import Chart from 'chart.js/auto'

import '@uppy/core/css/style.min.css'
import '@uppy/dashboard/css/style.min.css'

window.CricksyUppy = Object.freeze({ Uppy, Dashboard, AwsS3 })
window.CricksyChart = Chart
