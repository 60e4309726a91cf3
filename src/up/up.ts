import {readFile} from 'node:fs/promises'

import type {HardwareProfile} from '../../appliance/contract/index.js'
import {loadConfig} from '../config/load.js'
import type {ShingConfig} from '../config/schema.js'
import type {Engine} from '../engine/engine.js'
import {AbortError, errorMessage} from '../errors.js'
import {findProfile, loadProfiles} from '../hardware/profiles.js'
import {checkImages, missingImagesError, provideImages} from '../images/ensure-images.js'
import {cliCommand} from '../lib/invocation.js'
import {shingVersion} from '../lib/version.js'
import {renderCaddyfile} from '../stack/caddyfile.js'
import {describeAction, diffStack} from '../stack/diff.js'
import {planStack, siteUrls, stackImages, type StackPlan} from '../stack/plan.js'
import {applyActions, type ProgressEvent, type ServiceHealth} from './apply.js'
import {readActualStack} from './read-stack.js'

export interface UpOptions {
  dir: string
  dryRun: boolean
  /** Take over a swarm Shing did not create. */
  joinExisting: boolean
  healthTimeoutMs: number
  onProgress: (event: ProgressEvent) => void
}

export interface UpResult {
  dryRun: boolean
  /** Each image the stack runs and what `up` did (or, with --dry-run, would do) to have it. */
  images: Array<{key: string; ref: string; action: 'present' | 'pull' | 'build' | 'pulled' | 'built'}>
  actions: Array<{kind: string; description: string}>
  services: ServiceHealth[]
  urls: {web: string; rtmp: string; video?: string}
  next: string[]
  seconds: number
}

/** The profile as this site runs it: the config's ladder count wins over the profile's default. */
export function fittedProfile(profiles: HardwareProfile[], config: ShingConfig): HardwareProfile {
  const profile = findProfile(profiles, config.hardware.profile)
  const maxLadders = config.hardware.ingestMaxLadders ?? profile.ingest.maxLadders
  return {...profile, ingest: {...profile.ingest, maxLadders}}
}

/** Everything `up` and `up --dry-run` need: the plan and the secret values behind it. */
export async function prepareStack(dir: string): Promise<{plan: StackPlan; secretValues: Record<string, string>; config: ShingConfig}> {
  const [{config, secrets}, profiles] = await Promise.all([loadConfig(dir), loadProfiles()])
  const secretValues: Record<string, string> = {}
  for (const [key, value] of Object.entries(secrets)) if (key !== 'version' && typeof value === 'string') secretValues[key] = value
  if (config.tls.mode === 'files') {
    for (const [key, file] of [['tlsCert', config.tls.certFile], ['tlsKey', config.tls.keyFile]] as const) {
      try {
        secretValues[key] = await readFile(file, 'utf8')
      } catch (error) {
        throw new AbortError(`Cannot read the TLS file ${file}: ${errorMessage(error)}`, [
          `Fix tls.${key === 'tlsCert' ? 'certFile' : 'keyFile'} in shing.yaml`,
        ])
      }
    }
  }
  const plan = planStack({
    config,
    secrets: secretValues,
    profile: fittedProfile(profiles, config),
    version: shingVersion(),
    caddyfile: renderCaddyfile(config, secrets),
  })
  return {plan, secretValues, config}
}

export async function up(engine: Engine, options: UpOptions): Promise<UpResult> {
  const started = Date.now()
  const {plan, secretValues, config} = await prepareStack(options.dir)
  const actual = await readActualStack(engine)
  if (actual.swarm.state === 'active' && !actual.swarm.isManager) {
    throw new AbortError('This Docker engine is a swarm worker; `shing up` must talk to a manager.', [
      'Run shing on the manager box, or point DOCKER_HOST at it',
    ])
  }
  if (actual.swarm.state === 'active' && !actual.swarm.createdByShing && !options.joinExisting && actual.services.length === 0) {
    throw new AbortError('This engine is already in a swarm that Shing did not create.', [
      'To deploy Shing into that swarm anyway: shing up --join-existing',
      'Or leave it first: docker swarm leave --force',
    ])
  }
  if (actual.swarm.state === 'pending' || actual.swarm.state === 'error') {
    throw new AbortError(`The engine's swarm state is "${actual.swarm.state}".`, ['Wait for it to settle, or reset it: docker swarm leave --force'])
  }
  // Every image is checked before anything changes: a missing one stops here, not half-way.
  const images = await checkImages(engine, stackImages(config, plan.version))
  const missing = images.filter((i) => i.state.status === 'missing')
  if (missing.length > 0) throw missingImagesError(missing)
  const actions = diffStack(plan, actual)
  const imageActions = (done: Array<{ref: string; action: 'pulled' | 'built'}> | undefined): UpResult['images'] =>
    images.map((i) => ({
      key: i.key,
      ref: i.ref,
      action:
        i.state.status === 'present'
          ? 'present'
          : (done?.find((d) => d.ref === i.ref)?.action ?? (i.state.status === 'in-registry' ? 'pull' : 'build')),
    }))
  const result = (services: ServiceHealth[], done?: Array<{ref: string; action: 'pulled' | 'built'}>): UpResult => ({
    dryRun: options.dryRun,
    images: imageActions(done),
    actions: actions.map((a) => ({kind: a.kind, description: describeAction(a)})),
    services,
    urls: siteUrls(config),
    next: [`${cliCommand()} user create admin --email ${config.site.adminEmail} --admin`, `${cliCommand()} stream-key create <channel>`, `${cliCommand()} status`],
    seconds: (Date.now() - started) / 1000,
  })
  if (options.dryRun) return result([])
  const done = await provideImages(engine, images, (e) => options.onProgress({kind: 'image', image: e.image, text: e.text}))
  const services = await applyActions({
    engine,
    plan,
    actions,
    secretValues,
    ...(config.swarm.advertiseAddr ? {advertiseAddr: config.swarm.advertiseAddr} : {}),
    healthTimeoutMs: options.healthTimeoutMs,
    onProgress: options.onProgress,
    describe: describeAction,
  })
  return result(services, done)
}
