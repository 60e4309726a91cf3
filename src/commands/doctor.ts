import {ShingCommand} from '../base-command.js'
import {runDoctor, type DoctorResult} from '../doctor/doctor.js'
import {renderDoctor} from '../render/doctor.js'

export default class Doctor extends ShingCommand {
  static override summary = 'Preflight checks for this box and config; each passes, warns or fails with the fix.'
  static override description =
    'Checks the Docker engine and swarm state, the configured ports, RAM and disk against the hardware profile, GPU runtime and encoders, the hostname, and the config. Exits 1 when any check fails (with --json too).'
  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --dir /etc/shing --json']

  async run(): Promise<DoctorResult> {
    const {flags} = await this.parse(Doctor)
    const result = await runDoctor({dir: this.configDir(flags), engine: this.engine()})
    if (!this.jsonEnabled()) this.log(renderDoctor(result))
    if (!result.ok) process.exitCode = 1
    return result
  }
}
