import {Flags} from '@oclif/core'

import {ShingCommand} from '../base-command.js'
import {describeHardware, type HardwareResult} from '../hardware/describe.js'
import {renderHardware} from '../render/hardware.js'

export default class Hardware extends ShingCommand {
  static override summary = 'Detect this box: CPU, memory, disk, Docker engine, GPUs and their video encoders.'
  static override description =
    'Also names the hardware profile Shing would choose here, and why. A missing tool (nvidia-smi, vainfo, Docker) is reported as not present.'
  static override examples = ['<%= config.bin %> hardware', '<%= config.bin %> hardware --json']
  static override flags = {
    profile: Flags.string({description: 'Show how this profile fits the box instead of the detected best one.'}),
  }

  async run(): Promise<HardwareResult> {
    const {flags} = await this.parse(Hardware)
    const result = await describeHardware({dir: this.configDir(flags), engine: this.engine(), ...(flags.profile ? {profile: flags.profile} : {})})
    if (!this.jsonEnabled()) this.log(renderHardware(result))
    return result
  }
}
