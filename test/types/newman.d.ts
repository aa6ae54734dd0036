// The part of newman's programmatic API the tests use (the package ships no types).
declare module 'newman' {
  export interface NewmanRunOptions {
    collection: string | object;
    environment?: string | object;
    /** Overrides environment variables, e.g. the base URL of a server started by the test. */
    envVar?: { key: string; value: string }[];
    reporters?: string | string[];
    timeoutRequest?: number;
    bail?: boolean;
  }

  export interface NewmanRunFailure {
    error: { name: string; message: string; test?: string };
    source?: { name?: string };
    at?: string;
  }

  export interface NewmanRunSummary {
    run: {
      stats: Record<'requests' | 'assertions' | 'testScripts', { total: number; failed: number; pending: number }>;
      failures: NewmanRunFailure[];
      executions: { item: { name: string }; response?: { code: number } }[];
    };
  }

  export function run(options: NewmanRunOptions, callback: (error: Error | null, summary: NewmanRunSummary) => void): unknown;

  const newman: { run: typeof run };
  export default newman;
}
