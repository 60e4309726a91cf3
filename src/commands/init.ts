import {Flags} from '@oclif/core'

import {ShingCommand} from '../base-command.js'
import {AbortError} from '../errors.js'
import {initSite, type InitResult} from '../init/init-site.js'
import {terminalPrompter} from '../init/prompter.js'
import {renderInit} from '../render/init.js'

export default class Init extends ShingCommand {
  static override summary = 'Write shing.yaml and a secrets file for this site, from the detected hardware and a few answers.'
  static override description = `Asks each question it has no flag for; --yes takes the defaults instead (no terminal needed).
Refuses to overwrite an existing shing.yaml without --force; secrets already written are always kept.`
  static override examples = [
    '<%= config.bin %> init',
    '<%= config.bin %> init --yes --hostname live.example.org --admin-email ops@example.org',
    '<%= config.bin %> init --yes --hostname live.example.org --smtp smtp.example.org:587 --smtp-user live --smtp-password … --mail-from "Live <live@example.org>"',
    '<%= config.bin %> init --yes --dir /etc/shing --storage s3 --s3-endpoint https://s3.example.org --s3-bucket live --s3-access-key AK --s3-secret-key SK',
  ]
  static override flags = {
    yes: Flags.boolean({char: 'y', description: 'Take the default for every question not given by a flag.'}),
    force: Flags.boolean({description: 'Rewrite an existing shing.yaml (the secrets file is kept and completed).'}),
    hostname: Flags.string({description: 'Public hostname or IP address (default: this box\'s address).'}),
    'admin-email': Flags.string({description: 'Admin e-mail: certificate notices and the first admin account.'}),
    'http-port': Flags.integer({description: 'HTTP port (default 80).', min: 1, max: 65_535}),
    'https-port': Flags.integer({description: 'HTTPS port (default 443).', min: 1, max: 65_535}),
    'rtmp-port': Flags.integer({description: 'RTMP port for OBS (default 1935).', min: 1, max: 65_535}),
    'relay-port': Flags.integer({description: 'HTTPS port viewers fetch live video from the relays on, instead of through the edge (default 8443 with TLS; 0: through the edge only).', min: 0, max: 65_535}),
    'turn-port': Flags.integer({description: 'TURN port for calls, UDP and TCP, on SFU boxes (default 3478; 0: no TURN).', min: 0, max: 65_535}),
    'webrtc-ports': Flags.string({description: 'WebRTC port range MIN-MAX, UDP and TCP, on SFU boxes; each call worker takes one (default 40000-40100).'}),
    tls: Flags.option({options: ['auto', 'none', 'files'] as const, description: 'TLS: automatic certificates, none, or your own files (default: auto for a DNS name, none for an IP).'})(),
    'tls-cert': Flags.string({description: 'Certificate file (PEM) with --tls files.', dependsOn: ['tls-key']}),
    'tls-key': Flags.string({description: 'Private key file (PEM) with --tls files.', dependsOn: ['tls-cert']}),
    storage: Flags.option({options: ['minio', 's3'] as const, description: 'Object storage: bundled MinIO or an external S3 (default minio).'})(),
    's3-endpoint': Flags.string({description: 'External S3 endpoint URL.'}),
    's3-region': Flags.string({description: 'External S3 region (default us-east-1).'}),
    's3-bucket': Flags.string({description: 'External S3 bucket (default shing).'}),
    's3-access-key': Flags.string({description: 'External S3 access key (stored in the secrets file).'}),
    's3-secret-key': Flags.string({description: 'External S3 secret key (stored in the secrets file).'}),
    'data-dir': Flags.string({description: 'Data directory on the core box (default /var/lib/shing).'}),
    profile: Flags.string({description: 'Hardware profile (default: the one detected; see `shing hardware`).'}),
    smtp: Flags.string({description: 'SMTP server for account mail, host or host:port, or none (default none: accounts need no verification).'}),
    'smtp-security': Flags.option({options: ['starttls', 'tls', 'none'] as const, description: 'SMTP connection: starttls (587), tls (465) or none (default: tls for port 465, else starttls).'})(),
    'smtp-user': Flags.string({description: 'SMTP username, or none (default none).'}),
    'smtp-password': Flags.string({description: 'SMTP password (stored in the secrets file).'}),
    'mail-from': Flags.string({description: 'Sender of account mail, e.g. "Shing <live@example.org>".'}),
  }

  async run(): Promise<InitResult> {
    const {flags} = await this.parse(Init)
    const interactive = !flags.yes
    if (interactive && !process.stdin.isTTY) {
      throw new AbortError('There is no terminal to ask the init questions on.', [
        'Pass --yes to take the defaults, with flags for the answers you want to set (see shing init --help)',
      ])
    }
    const result = await initSite({
      dir: this.configDir(flags),
      engine: this.engine(),
      force: flags.force,
      ...(interactive ? {prompter: terminalPrompter} : {}),
      answers: {
        hostname: flags.hostname,
        adminEmail: flags['admin-email'],
        httpPort: flags['http-port'],
        httpsPort: flags['https-port'],
        rtmpPort: flags['rtmp-port'],
        relayHttpsPort: flags['relay-port'],
        turnPort: flags['turn-port'],
        webrtcPorts: flags['webrtc-ports'],
        tls: flags.tls,
        tlsCert: flags['tls-cert'],
        tlsKey: flags['tls-key'],
        storage: flags.storage,
        s3Endpoint: flags['s3-endpoint'],
        s3Region: flags['s3-region'],
        s3Bucket: flags['s3-bucket'],
        s3AccessKey: flags['s3-access-key'],
        s3SecretKey: flags['s3-secret-key'],
        dataDir: flags['data-dir'],
        profile: flags.profile,
        smtp: flags.smtp,
        smtpSecurity: flags['smtp-security'],
        smtpUser: flags['smtp-user'],
        smtpPassword: flags['smtp-password'],
        mailFrom: flags['mail-from'],
      },
    })
    if (!this.jsonEnabled()) this.log(renderInit(result))
    return result
  }
}
