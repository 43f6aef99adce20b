// The "CMS": a JSON file. CMS_FILE lets several instances (and the tests) share one file,
// standing in for a headless CMS that every container queries.
import fs from 'node:fs'
import path from 'node:path'

export function cmsFilePath() {
  return process.env.CMS_FILE || path.join(process.cwd(), 'data', 'cms.json')
}

export function readCms() {
  // The path comes from the environment at run time: tell Turbopack not to trace it.
  return JSON.parse(fs.readFileSync(/* turbopackIgnore: true */ cmsFilePath(), 'utf8'))
}

export function instanceName() {
  return process.env.INSTANCE_NAME || 'unnamed'
}
