// Digests per OCI image-spec descriptor.md "Digests": algorithm ":" encoded. Outpost accepts the
// two registered algorithms, sha256 and sha512, with lowercase hex of the exact length.
import { createHash, type Hash } from 'node:crypto'
import { RegistryError } from './errors.js'

export type Algorithm = 'sha256' | 'sha512'

const HEX_LENGTH: Record<Algorithm, number> = { sha256: 64, sha512: 128 }

export class Digest {
  private constructor(
    readonly algorithm: Algorithm,
    readonly hex: string,
  ) {}

  static parse(text: string): Digest {
    const colon = text.indexOf(':')
    const algorithm = text.slice(0, colon)
    const hex = text.slice(colon + 1)
    if (colon <= 0 || !Digest.isAlgorithm(algorithm)) {
      throw new RegistryError(
        'DIGEST_INVALID',
        `unsupported digest algorithm in ${JSON.stringify(text)}`,
      )
    }
    const alg = algorithm as Algorithm
    if (hex.length !== HEX_LENGTH[alg] || !/^[a-f0-9]+$/.test(hex)) {
      throw new RegistryError('DIGEST_INVALID', `malformed ${alg} digest ${JSON.stringify(text)}`)
    }
    return new Digest(alg, hex)
  }

  /** True when `text` has the shape of a digest (algorithm:encoded), valid or not. */
  static looksLike(text: string): boolean {
    return /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(text)
  }

  static of(algorithm: Algorithm, bytes: Uint8Array): Digest {
    return new Digest(algorithm, createHash(algorithm).update(bytes).digest('hex'))
  }

  static fromHash(algorithm: Algorithm, hash: Hash): Digest {
    return new Digest(algorithm, hash.digest('hex'))
  }

  static isAlgorithm(name: string): name is Algorithm {
    // Own keys only: `constructor` or `__proto__` are not algorithms.
    return Object.hasOwn(HEX_LENGTH, name)
  }

  equals(other: Digest): boolean {
    return this.algorithm === other.algorithm && this.hex === other.hex
  }

  toString(): string {
    return `${this.algorithm}:${this.hex}`
  }
}

export function newHash(algorithm: Algorithm): Hash {
  return createHash(algorithm)
}
