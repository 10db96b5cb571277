import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  volumes?: string[];
}

const root = new URL('../../', import.meta.url);
const readYaml = async (path: string): Promise<unknown> =>
  parse(await readFile(new URL(path, root), 'utf8')) as unknown;

const compose = (await readYaml('docker-compose.yml')) as { services: Record<string, Service> };
const words = (value: string[] | string | undefined): string =>
  Array.isArray(value) ? value.join(' ') : (value ?? '');

describe('docker-compose.yml', () => {
  it('names Redis, MinIO, the bucket set-up, the consumer, Prometheus and Grafana', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'consumer',
      'create-bucket',
      'grafana',
      'minio',
      'prometheus',
      'redis',
    ]);
  });

  it('runs Redis with AOF and noeviction', () => {
    const command = words(compose.services.redis?.command);
    expect(command).toMatch(/--appendonly yes/);
    expect(command).toMatch(/--maxmemory-policy noeviction/);
  });

  it('creates the bucket the consumer writes to', () => {
    const bucket = compose.services.consumer?.environment?.DEBUG_ARCHIVE_BUCKET;
    expect(bucket).toBeTruthy();
    expect(words(compose.services['create-bucket']?.entrypoint)).toContain(
      `mc mb --ignore-existing local/${String(bucket)}`,
    );
  });

  it('points the consumer at both servers and starts the worker after them', () => {
    const consumer = compose.services.consumer;
    expect(words(consumer?.command)).toMatch(/worker$/);
    expect(consumer?.environment?.REDIS_URL).toBe('redis://redis:6379');
    expect(consumer?.environment?.S3_ENDPOINT).toBe('http://minio:9000');
    expect(consumer?.depends_on?.redis?.condition).toBe('service_healthy');
    expect(consumer?.depends_on?.['create-bucket']?.condition).toBe('service_completed_successfully');
  });

  it("publishes the consumer's metrics port, which its environment leaves at the default", () => {
    const consumer = compose.services.consumer;
    expect(consumer?.ports).toEqual(['9464:9464']);
    expect(consumer?.environment?.METRICS_PORT ?? '9464').toBe('9464');
  });

  it('runs Prometheus on its mounted config, scraping the consumer on consumer:9464 every 5 s', async () => {
    const prometheus = compose.services.prometheus;
    expect(prometheus?.image).toMatch(/^prom\/prometheus(:|$)/);
    expect(prometheus?.ports).toEqual(['9090:9090']);
    expect(prometheus?.volumes).toContain('./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    expect(words(prometheus?.command)).toContain('--config.file=/etc/prometheus/prometheus.yml');

    const config = (await readYaml('prometheus/prometheus.yml')) as {
      global?: { scrape_interval?: string };
      scrape_configs: {
        job_name: string;
        scrape_interval?: string;
        static_configs: { targets: string[] }[];
      }[];
    };
    const scrapes = config.scrape_configs.filter((job) =>
      job.static_configs.some((targets) => targets.targets.includes('consumer:9464')),
    );
    expect(scrapes).toHaveLength(1);
    expect(scrapes[0]?.scrape_interval ?? config.global?.scrape_interval).toBe('5s');
  });

  it('runs Grafana with anonymous viewers, the provisioning folder and the dashboards it loads', async () => {
    const grafana = compose.services.grafana;
    expect(grafana?.image).toMatch(/^grafana\/grafana(:|$)/);
    expect(grafana?.ports).toEqual(['3000:3000']);
    expect(grafana?.environment?.GF_AUTH_ANONYMOUS_ENABLED).toBe('true');
    expect(grafana?.environment?.GF_AUTH_ANONYMOUS_ORG_ROLE).toBe('Viewer');
    expect(grafana?.volumes).toEqual(
      expect.arrayContaining([
        './grafana/provisioning:/etc/grafana/provisioning:ro',
        './grafana/dashboards:/var/lib/grafana/dashboards:ro',
      ]),
    );

    const datasources = (await readYaml('grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: { type: string; url: string; isDefault?: boolean }[];
    };
    expect(datasources.datasources).toEqual([
      expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true }),
    ]);

    // The provider reads the folder the dashboards are mounted on, and the home dashboard is in it.
    const providers = (await readYaml('grafana/provisioning/dashboards/dashboards.yml')) as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(providers.providers).toEqual([
      expect.objectContaining({
        type: 'file',
        options: expect.objectContaining({ path: '/var/lib/grafana/dashboards' }) as unknown,
      }),
    ]);
    const home = grafana?.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
    expect(home.startsWith('/var/lib/grafana/dashboards/')).toBe(true);
    const file = home.slice('/var/lib/grafana/dashboards/'.length);
    const dashboard = JSON.parse(await readFile(new URL(`grafana/dashboards/${file}`, root), 'utf8')) as {
      uid?: string;
    };
    expect(dashboard.uid).toBe('debug-archiver');
  });
});
