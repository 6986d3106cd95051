export function runSourceChild(
  script: string,
  args: readonly string[],
  options: { cwd: string; killWhen?: (stdout: string) => boolean },
): Promise<{ code: number | null; killed: boolean; stdout: string; stderr: string }>;
