import {Command, Errors, Flags, type Interfaces} from '@oclif/core'
import path from 'node:path'

import {connectEngine} from './engine/docker-engine.js'
import type {Engine} from './engine/engine.js'
import {AbortError} from './errors.js'

export type ShingFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof ShingCommand)['baseFlags'] & T['flags']>

/**
 * Every shing command: `--json` (the typed result of run() is the JSON output), `--dir` (config
 * directory, also SHING_DIR), and the two kinds of failure rendered the same way everywhere.
 */
export abstract class ShingCommand extends Command {
  static override enableJsonFlag = true
  static override baseFlags = {
    dir: Flags.string({
      description: 'Directory holding shing.yaml and its secrets file (default: the current directory).',
      env: 'SHING_DIR',
      helpGroup: 'GLOBAL',
    }),
  }

  /** The config directory, absolute. */
  protected configDir(flags: {dir?: string}): string {
    return path.resolve(flags.dir ?? '.')
  }

  /** The Docker engine this box's commands talk to: DOCKER_HOST, or the local socket. */
  protected engine(): Engine {
    return connectEngine()
  }

  protected override async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (error instanceof AbortError) {
      if (this.jsonEnabled()) {
        this.logJson({error: {kind: 'abort', message: error.message, actions: error.actions}})
        this.exit(1)
      }
      throw new Errors.CLIError(error.message, {exit: 1, suggestions: error.actions})
    }
    return super.catch(error)
  }
}
