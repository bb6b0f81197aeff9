export async function edgeBench(_repoRoot: string, _opts: { sizeMiB: number }): Promise<unknown> {
  throw new Error('--edge: not supported yet')
}
