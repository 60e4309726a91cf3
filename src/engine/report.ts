import {errorMessage} from '../errors.js'
import type {Engine, EngineInfo} from './engine.js'

/** What `shing hardware` and `doctor` show of an engine; unreachable is a report, not a throw. */
export type EngineReport = {reachable: true; address: string} & EngineInfo | {reachable: false; address: string; error: string}

export async function reportEngine(engine: Engine): Promise<EngineReport> {
  try {
    return {reachable: true, address: engine.address, ...(await engine.info())}
  } catch (error) {
    return {reachable: false, address: engine.address, error: errorMessage(error)}
  }
}
