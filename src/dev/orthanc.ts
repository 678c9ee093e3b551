/**
 * A local Orthanc PACS (Debian packages orthanc + orthanc-dicomweb, optionally orthanc-gdcm) for the
 * demo, the benchmarks and the integration tests: free ports, a temporary configuration and storage
 * directory, stopped and removed afterwards. Development tooling: the service itself never starts one.
 *
 *   const skip = orthancSkipReason();            // a message when /usr/sbin/Orthanc is absent
 *   const orthanc = await startOrthanc({ users: { alice: 'secret' } });
 *   await orthanc.upload(buffer);                // POST /instances
 *   orthanc.dicomWebUrl                          // http://127.0.0.1:<port>/dicom-web
 *   await orthanc.halt(); await orthanc.resume(); // down (SIGKILL) and back, same ports and storage
 *   await orthanc.stop();                        // SIGTERM, SIGKILL after 10 s, temp dir removed
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';

/** VCF_TEST_ORTHANC_BIN overrides it (e.g. to check that the tests skip cleanly without Orthanc). */
export const ORTHANC_BIN = process.env.VCF_TEST_ORTHANC_BIN ?? '/usr/sbin/Orthanc';
export const ORTHANC_PLUGIN_DIR = '/usr/share/orthanc/plugins';
export const DICOMWEB_PLUGIN = path.join(ORTHANC_PLUGIN_DIR, 'libOrthancDicomWeb.so');

/** Why Orthanc tests cannot run here, or null when they can. */
export function orthancSkipReason(): string | null {
  if (!fs.existsSync(ORTHANC_BIN)) {
    return `${ORTHANC_BIN} is absent (apt-get install orthanc orthanc-dicomweb orthanc-gdcm): Orthanc tests skipped`;
  }
  return null;
}

/** The GDCM plugin (JPEG 2000 and other codecs for transcoding), or null when orthanc-gdcm is not installed. */
export function findGdcmPlugin(): string | null {
  try {
    const name = fs.readdirSync(ORTHANC_PLUGIN_DIR).find((f) => /gdcm/i.test(f) && f.endsWith('.so'));
    return name ? path.join(ORTHANC_PLUGIN_DIR, name) : null;
  } catch {
    return null;
  }
}

/** A TCP port that was free a moment ago (listen on port 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface StartOrthancOptions {
  /** Enables AuthenticationEnabled with these RegisteredUsers (HTTP basic). Default: no authentication. */
  users?: Record<string, string>;
  /** Load the GDCM plugin when installed. Default true, unless VCF_TEST_ORTHANC_GDCM=off (to test without it). */
  gdcm?: boolean;
  /** Merged over the generated configuration. */
  extraConfig?: Record<string, unknown>;
  /** How long to wait for /system to answer. Default 30 s. */
  startTimeoutMs?: number;
  /**
   * Restart Orthanc (same ports, same storage) when it dies by itself. Debian 12's orthanc-gdcm 1.5
   * (GDCM 3.0.21) segfaults at random in gdcm::PixmapWriter::PrepareWrite while transcoding JPEG 2000:
   * a supervised server lets tests exercise the client's retries instead of failing. Default false.
   */
  restartOnCrash?: boolean;
  /**
   * Variables added to Orthanc's environment (over this process's). Lua scripts read their settings
   * there with os.getenv, as config/orthanc/vcf-sentinel-notify.lua does; a test sets them per instance.
   */
  env?: Record<string, string>;
}

export interface OrthancInstance {
  /** http://127.0.0.1:<port> (the REST API). */
  url: string;
  /** The DICOMweb root, without a trailing slash. */
  dicomWebUrl: string;
  httpPort: number;
  dir: string;
  /** The GDCM plugin loaded, or null. */
  gdcmPlugin: string | null;
  /** Authorization header value for the REST API when users are configured. */
  authorization: string | undefined;
  /** The last lines Orthanc wrote (for failure messages). */
  logTail(): string;
  /** POST /instances; returns Orthanc's instance id. */
  upload(file: Buffer): Promise<string>;
  /** Uploads files from disk, in order. */
  uploadFiles(paths: string[]): Promise<string[]>;
  /** SIGTERM, SIGKILL after 10 s; then removes the temporary directory. Idempotent. */
  stop(): Promise<void>;
  /**
   * A PACS outage: SIGKILL (requests in flight are cut, as a crash or a pulled cable would), keeping the
   * ports, configuration and storage; not restarted by `restartOnCrash`. `resume()` ends it.
   */
  halt(): Promise<void>;
  /** Starts a halted Orthanc again on the same ports and storage; resolves once /system answers. */
  resume(): Promise<void>;
  readonly running: boolean;
  /** How many times Orthanc died by itself after a successful start. */
  readonly crashes: number;
}

/** A supervised Orthanc that keeps dying is not restarted forever. */
const MAX_RESTARTS = 100;

const live = new Set<{ child: ChildProcess; dir: string }>();
let exitHookInstalled = false;

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort if a test run dies without afterAll: no Orthanc or temp dir outlives the process.
  process.once('exit', () => {
    for (const { child, dir } of live) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

async function startOnce(options: StartOrthancOptions): Promise<OrthancInstance> {
  const skip = orthancSkipReason();
  if (skip) throw new Error(skip);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vcf-orthanc-'));
  const storage = path.join(dir, 'db');
  fs.mkdirSync(storage);
  const httpPort = await freePort();
  let dicomPort = await freePort();
  while (dicomPort === httpPort) dicomPort = await freePort();
  const useGdcm = options.gdcm ?? process.env.VCF_TEST_ORTHANC_GDCM !== 'off';
  const gdcmPlugin = useGdcm ? findGdcmPlugin() : null;
  const users = options.users;
  const config = {
    Name: 'vcf-sentinel-test',
    StorageDirectory: storage,
    IndexDirectory: storage,
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomAet: 'VCFTEST',
    RemoteAccessAllowed: false,
    AuthenticationEnabled: users !== undefined,
    ...(users ? { RegisteredUsers: users } : {}),
    SaveJobs: false,
    StorageCompression: false,
    Plugins: [DICOMWEB_PLUGIN, ...(gdcmPlugin ? [gdcmPlugin] : [])],
    DicomWeb: { Enable: true, Root: '/dicom-web/' },
    ...options.extraConfig,
  };
  const configPath = path.join(dir, 'orthanc.json');
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2));

  const lines: string[] = [];
  // Orthanc's output arrives in pieces that can end mid-line: each stream keeps its unfinished line until
  // the rest comes, so that a log line is one entry (tests look for whole lines).
  const follow = (stream: Readable | null) => {
    let partial = '';
    const keep = (text: string) => {
      if (text.trim()) lines.push(text);
      if (lines.length > 200) lines.splice(0, lines.length - 200);
    };
    stream?.on('data', (data: Buffer) => {
      const parts = (partial + data.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) keep(line);
    });
    stream?.on('end', () => keep(partial));
  };
  const logTail = () => lines.slice(-30).join('\n');

  let stopped = false;
  let halted = false;
  let ready = false;
  let crashes = 0;
  const entry = { child: undefined as unknown as ChildProcess, dir };
  const spawnChild = () => {
    const env = options.env ? { ...process.env, ...options.env } : process.env;
    const child = spawn(ORTHANC_BIN, [configPath], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    follow(child.stdout);
    follow(child.stderr);
    child.once('exit', (code, signal) => {
      lines.push(`[Orthanc process exited: code ${code}, signal ${signal}]`);
      if (stopped || halted || !ready) return;
      crashes += 1;
      // Restart on the same ports and storage: clients see a crash as connection errors, then recovery.
      if (options.restartOnCrash && crashes <= MAX_RESTARTS) entry.child = spawnChild();
    });
    return child;
  };
  entry.child = spawnChild();
  live.add(entry);
  installExitHook();

  const firstUser = users ? Object.entries(users)[0] : undefined;
  const authorization = firstUser
    ? `Basic ${Buffer.from(`${firstUser[0]}:${firstUser[1]}`).toString('base64')}`
    : undefined;
  const url = `http://127.0.0.1:${httpPort}`;
  const headers: Record<string, string> = authorization ? { authorization } : {};
  const alive = () => entry.child.exitCode === null && entry.child.signalCode === null;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const child = entry.child;
    if (alive()) {
      child.kill('SIGTERM');
      if (!(await waitForExit(child, 10_000))) {
        child.kill('SIGKILL');
        await waitForExit(child, 5_000);
      }
    }
    live.delete(entry);
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const answering = async () => {
    const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
    for (;;) {
      if (!alive()) {
        const { exitCode, signalCode } = entry.child;
        await stop();
        throw new Error(`Orthanc exited during start (code ${exitCode}, signal ${signalCode}):\n${logTail()}`);
      }
      try {
        const res = await fetch(`${url}/system`, { headers, signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`Orthanc did not answer /system within the start timeout:\n${logTail()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await answering();
  ready = true;

  const halt = async () => {
    if (stopped || halted) return;
    halted = true;
    const child = entry.child;
    if (alive()) {
      child.kill('SIGKILL');
      await waitForExit(child, 5_000);
    }
  };
  const resume = async () => {
    if (stopped || !halted) return;
    entry.child = spawnChild();
    await answering();
    halted = false;
  };

  const upload = async (file: Buffer) => {
    // A supervised server may be restarting: wait for it rather than fail the upload.
    for (let attempt = 0; ; attempt += 1) {
      let res: Response;
      try {
        res = await fetch(`${url}/instances`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/dicom' },
          body: file,
        });
      } catch (err) {
        if (!options.restartOnCrash || stopped || attempt >= 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const text = await res.text();
      if (!res.ok) throw new Error(`Orthanc refused an upload: HTTP ${res.status} ${text}`);
      return (JSON.parse(text) as { ID: string }).ID;
    }
  };

  return {
    url,
    dicomWebUrl: `${url}/dicom-web`,
    httpPort,
    dir,
    gdcmPlugin,
    authorization,
    logTail,
    upload,
    uploadFiles: async (paths) => {
      const ids: string[] = [];
      for (const p of paths) ids.push(await upload(fs.readFileSync(p)));
      return ids;
    },
    stop,
    halt,
    resume,
    get running() {
      return !stopped && alive();
    },
    get crashes() {
      return crashes;
    },
  };
}

/**
 * Starts Orthanc on free ports; retries twice when it exits during start (a port taken between probing
 * and binding). Always pair with `stop()` in afterAll/finally.
 */
export async function startOrthanc(options: StartOrthancOptions = {}): Promise<OrthancInstance> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      return await startOnce(options);
    } catch (err) {
      lastError = err;
      if (!(err instanceof Error && err.message.startsWith('Orthanc exited during start'))) throw err;
    }
  }
  throw lastError;
}

/**
 * STOW-RS (PS3.18 10.5): POST {dicomWebUrl}/studies with multipart/related; type="application/dicom",
 * `batch` instances per request. Throws on any non-2xx answer or on a failed instance (Orthanc answers 200
 * with FailedSOPSequence (0008,1198) when some instances were refused).
 */
export async function stowRs(orthanc: Pick<OrthancInstance, 'dicomWebUrl' | 'authorization'>, files: Buffer[], batch = 50): Promise<void> {
  for (let start = 0; start < files.length; start += batch) {
    const boundary = `vcf-stow-${start}-${Date.now().toString(36)}`;
    const parts: Buffer[] = [];
    for (const file of files.slice(start, start + batch)) {
      parts.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`, 'latin1'), file, Buffer.from('\r\n', 'latin1'));
    }
    parts.push(Buffer.from(`--${boundary}--\r\n`, 'latin1'));
    const res = await fetch(`${orthanc.dicomWebUrl}/studies`, {
      method: 'POST',
      headers: {
        ...(orthanc.authorization ? { authorization: orthanc.authorization } : {}),
        'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        accept: 'application/dicom+json',
      },
      body: Buffer.concat(parts),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`STOW-RS refused: HTTP ${res.status} ${text.slice(0, 500)}`);
    const answer = text ? (JSON.parse(text) as Record<string, { Value?: unknown[] }>) : {};
    const failed = answer['00081198']?.Value?.length ?? 0;
    if (failed > 0) throw new Error(`STOW-RS refused ${failed} instance(s): ${text.slice(0, 500)}`);
  }
}
