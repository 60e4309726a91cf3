import {validateConfig} from '../config/load.js'
import type {Engine} from '../engine/engine.js'
import {chooseProfile} from './choose-profile.js'
import {detectHardware, type HardwareReport} from './detect.js'
import {findProfile, loadProfiles} from './profiles.js'

export interface HardwareResult extends HardwareReport {
  profile: {name: string; reason: string; adjustments: string[]; warnings: string[]; maxLadders: number; encoder: string}
}

/**
 * `shing hardware`: the detected facts and the profile they lead to. Free disk is measured at the
 * config's dataDir when `dir` holds a valid config, else at `dir` itself.
 */
export async function describeHardware(options: {dir: string; engine: Engine; profile?: string}): Promise<HardwareResult> {
  const validation = await validateConfig(options.dir)
  const dataPath = validation.valid ? validation.loaded.config.dataDir : options.dir
  const [report, profiles] = await Promise.all([detectHardware({dataPath, engine: options.engine}), loadProfiles()])
  if (options.profile !== undefined) findProfile(profiles, options.profile)
  const choice = chooseProfile(report, profiles, options.profile)
  return {
    ...report,
    profile: {
      name: choice.profile.name,
      reason: choice.reason,
      adjustments: choice.adjustments,
      warnings: choice.warnings,
      maxLadders: choice.profile.ingest.maxLadders,
      encoder: choice.profile.encoder.kind,
    },
  }
}
