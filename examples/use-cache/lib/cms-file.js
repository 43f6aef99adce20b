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

/** Used by the server actions (the editor's "save"): atomic, so readers never see half a file. */
export function writeCms(cms) {
  const file = cmsFilePath()
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`
  fs.writeFileSync(/* turbopackIgnore: true */ tmp, JSON.stringify(cms, null, 2))
  fs.renameSync(/* turbopackIgnore: true */ tmp, file)
}

export function instanceName() {
  return process.env.INSTANCE_NAME || 'unnamed'
}
