// Secrets are masked wherever something is printed or logged (src/log/secrets.ts), and the AWS
// SDK's Node version notice is kept out of the output (src/log/sdk-notice.ts) while every other
// warning still gets through.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, it } from 'node:test'
import { createLogger } from '../src/log/logger.js'
import { isSdkNodeNotice } from '../src/log/sdk-notice.js'
import { MASK, maskKnown, maskSecrets, maskText, secretValues } from '../src/log/secrets.js'
import { REPO_ROOT } from './helpers/harness.js'

const HASH = '$2y$10$' + 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0'

describe('maskSecrets', () => {
  it('masks secret-bearing keys at any depth, whatever their spelling, and nothing else', () => {
    const masked = maskSecrets({
      storage: { storageDriver: { accesskey: 'AK', secretkey: 'SK', bucket: 'b', region: 'r' } },
      client: { credentials: { accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'ST' } },
      env: { AWS_SECRET_ACCESS_KEY: 'SK', AWS_SESSION_TOKEN: 'ST', HOME: '/root' },
      upstreams: [{ username: 'u', password: 'PW' }],
      // http.auth.token's settings are not a secret: objects under a secret key are walked.
      auth: { token: { service: 'outpost', expiry: '5m' }, htpasswd: { path: '/etc/htpasswd' } },
      headers: { Authorization: 'Basic dTpw' },
    })
    assert.deepEqual(masked, {
      storage: { storageDriver: { accesskey: MASK, secretkey: MASK, bucket: 'b', region: 'r' } },
      client: { credentials: { accessKeyId: MASK, secretAccessKey: MASK, sessionToken: MASK } },
      env: { AWS_SECRET_ACCESS_KEY: MASK, AWS_SESSION_TOKEN: MASK, HOME: '/root' },
      upstreams: [{ username: 'u', password: MASK }],
      auth: { token: { service: 'outpost', expiry: '5m' }, htpasswd: { path: '/etc/htpasswd' } },
      headers: { Authorization: MASK },
    })
  })

  it('masks URL passwords and bcrypt hashes in any text, and leaves the input alone', () => {
    const input = { url: 'https://puller:hunter22@registry.example/v2/', line: `admin:${HASH}` }
    const masked = maskSecrets(input)
    assert.equal(masked.url, `https://puller:${MASK}@registry.example/v2/`)
    assert.equal(masked.line, `admin:${MASK}`)
    assert.equal(input.url, 'https://puller:hunter22@registry.example/v2/')
    assert.equal(
      maskText('digest sha256:abc at http://host:5000/v2/'),
      'digest sha256:abc at http://host:5000/v2/',
    )
  })

  it('finds the secret values of a configuration to mask them in free text', () => {
    const secrets = secretValues({ uplink: { t: { accesskey: 'AKIAXYZ', secretkey: 'sk/+abc' } } })
    assert.deepEqual([...secrets].sort(), ['AKIAXYZ', 'sk/+abc'])
    assert.equal(maskKnown('refused AKIAXYZ with sk/+abc', secrets), `refused ${MASK} with ${MASK}`)
  })

  it('the logger masks every line: fields by key, text by shape', () => {
    const lines: string[] = []
    const logger = createLogger({ write: (l) => lines.push(l), journal: false })
    logger.warn('upstream https://u:pw123456@h/ failed', {
      settings: { secretkey: 'SECRET-1234', bucket: 'b' },
      error: new Error('kept as is'),
    })
    const text = lines.join('')
    assert.ok(!text.includes('SECRET-1234') && !text.includes('pw123456'), text)
    assert.match(text, /"bucket":"b"/)
  })
})

describe("the AWS SDK's Node version notice", () => {
  // Both notices as the SDK words them: the current one and the Node 18 one before it.
  const notices = [
    'NodeVersionSupportWarning: The AWS SDK for JavaScript (v3)\nversions published after the first week of January 2027\nwill require node >=22. You are running node v20.20.2.',
    'NodeDeprecationWarning: The AWS SDK for JavaScript (v3) will\nno longer support Node.js v18.20.8 in January 2026.',
  ]

  it('is recognised by its text, and nothing else is', () => {
    for (const n of notices) assert.ok(isSdkNodeNotice(n))
    assert.ok(!isSdkNodeNotice('ExperimentalWarning: something else'))
    assert.ok(!isSdkNodeNotice(new Error('The AWS SDK for JavaScript is fine')))
  })

  it('is dropped by the filter the CLI installs, while other warnings still print', () => {
    const script = `
      import { quietSdkNodeNotice } from './src/log/sdk-notice.ts'
      quietSdkNodeNotice()
      for (const n of ${JSON.stringify(notices)}) process.emitWarning(n)
      process.emitWarning('an unrelated warning', 'OutpostTestWarning')
      process.stdout.write(process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED + '\\n')
    `
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '' },
      },
    )
    assert.equal(r.status, 0, r.stderr)
    assert.doesNotMatch(r.stderr, /AWS SDK for JavaScript/)
    assert.match(r.stderr, /OutpostTestWarning: an unrelated warning/)
    // An operator's own setting of the SDK's switch is left alone.
    assert.equal(r.stdout, '\n')
  })
})
