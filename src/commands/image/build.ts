import {Flags} from '@oclif/core'

import {ShingCommand} from '../../base-command.js'
import {AbortError} from '../../errors.js'
import {buildApplianceImage, type BuildApplianceResult} from '../../images/appliance-image.js'
import {renderImageProgress} from '../../render/images.js'

export default class ImageBuild extends ShingCommand {
  static override summary = 'Build the appliance image from this package (appliance/Dockerfile) on the Docker engine.'
  static override description = `shing up does this by itself when the image is missing and no registry has it. The build runs its steps on the box's own network and hands them this box's CA bundle, so npm works behind a TLS-intercepting proxy.`
  static override examples = [
    '<%= config.bin %> image build',
    '<%= config.bin %> image build --tag shing/appliance:dev --build-arg MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL=http://mirror.lan/mediasoup',
  ]
  static override flags = {
    tag: Flags.string({description: 'Tag of the image (default: shing/appliance:<this version>).'}),
    'build-arg': Flags.string({description: 'A Dockerfile ARG as KEY=VALUE (NODE_IMAGE, MEDIASOUP_WORKER_PREBUILT_DOWNLOAD_BASE_URL, WORKER_DEBIAN_PACKAGES); repeatable.', multiple: true}),
  }

  async run(): Promise<BuildApplianceResult> {
    const {flags} = await this.parse(ImageBuild)
    const buildArgs: Record<string, string> = {}
    for (const arg of flags['build-arg'] ?? []) {
      const at = arg.indexOf('=')
      if (at <= 0) throw new AbortError(`--build-arg ${arg} is not KEY=VALUE.`, ['Write it as --build-arg NODE_IMAGE=node:24-bookworm-slim'])
      buildArgs[arg.slice(0, at)] = arg.slice(at + 1)
    }
    const result = await buildApplianceImage(this.engine(), {
      ...(flags.tag ? {tag: flags.tag} : {}),
      buildArgs,
      onProgress: (p) => {
        const line = renderImageProgress(p)
        if (line !== undefined) this.logToStderr(line)
      },
    })
    if (!this.jsonEnabled()) this.log(`Built ${result.tag} in ${result.seconds.toFixed(0)}s (${result.contextFiles} files in the context).`)
    return result
  }
}
