// `render [--dc NAME] [--check]`: resolve every service, render the DC's FRR snippet from its template, or diff it against the running config.
import { resolve } from 'node:path';
import { EXIT, VipError } from '../core/errors.js';
import { prependRuleOf } from '../core/policy.js';
import { buildRenderModel, diffRendered, findConflicts, formatDifferences, renderSnippet, type RenderDifference, type RenderModel } from '../core/render.js';
import type { State } from '../core/types.js';
import { resolveAll } from './change.js';
import type { Deps } from './context.js';
import { FRR_TEMPLATE, readTemplate } from './templates.js';

export interface RenderOptions {
  dc?: string;
  check: boolean;
  /** directory holding frr.conf.mustache, instead of the packaged (embedded) template */
  templates?: string;
}

/** Why a VIP the snippet announces is not in the running config, when vip-mgmt itself took it out:
 *  loading the snippet would announce it again, behind the hold's or the watchdog's back. */
function annotate(diffs: RenderDifference[], state: State | null): RenderDifference[] {
  if (!state) return diffs;
  return diffs.map((d) => {
    if (d.kind !== 'network' || d.action !== 'add' || !d.prefix) return d;
    const hold = state.holds[d.prefix];
    if (hold) return { ...d, note: `withdrawn for maintenance by ${hold.by} since ${hold.since}: "${hold.reason}"; loading the snippet would announce it again` };
    const wd = state.watchdog[d.prefix];
    if (wd?.state === 'down' || wd?.state === 'rising') {
      return { ...d, note: `withdrawn by the watchdog (${wd.live ?? '?'} live real servers); loading the snippet would announce it again` };
    }
    return d;
  });
}

export async function renderCommand(deps: Deps, opts: RenderOptions): Promise<number> {
  const { config, out, log } = deps;
  const dc = opts.dc ?? config.dc;
  const known = Object.keys(config.datacenters).sort();
  if (!Object.hasOwn(config.datacenters, dc)) {
    throw new VipError('VIP_E_USAGE', `--dc: unknown datacenter "${dc}"; the config lists: ${known.join(', ')}`, { dc });
  }
  if (opts.check && dc !== config.dc) {
    throw new VipError('VIP_E_USAGE', `--check compares with this host's running config, which is dc ${config.dc}'s; run it on a ${dc} host, or drop --dc`, { dc });
  }
  // the template is read first: a wrong --templates must not wait for DNS to be reported
  const template = await readTemplate(FRR_TEMPLATE, opts.templates);

  const names = config.services.map((s) => s.name);
  const { resolved, errors } = await resolveAll(deps, names);
  if (errors.length > 0) {
    const list = errors.map((e) => `  ${e.message}`).join('\n');
    throw new VipError(errors[0]!.code, `cannot render dc ${dc}: ${errors.length} service name(s) did not resolve:\n${list}`, {
      dc,
      names: errors.map((e) => e.details.name).filter((n) => typeof n === 'string'),
    });
  }
  const byName = new Map(resolved.map((r) => [r.name, r]));
  const conflicts = findConflicts(config, byName);
  if (conflicts.length > 0) {
    const list = conflicts.map((c) => `  ${c.path}: ${c.message}`).join('\n');
    throw new VipError('VIP_E_POLICY_CONFLICT', `cannot render dc ${dc}: VIPs claimed by services with different prefer lists (vip-mgmt config check lists them too):\n${list}`, {
      dc,
    });
  }
  // This host's holds stay out of its own DC's snippet (other DCs' holds live on their hosts).
  const stored = dc === config.dc || config.fleet ? await deps.store.read() : null;
  let holds = dc === config.dc ? stored!.holds : {};
  if (config.fleet) {
    // fleet holds of the rendered DC stay out too: reloading FRR from the file must not undo them
    const { currentFleetHolds } = await import('./fleet.js');
    const { fleetHoldsFor } = await import('../core/fleet.js');
    holds = { ...fleetHoldsFor(dc, await currentFleetHolds(deps, stored!)), ...holds };
  }
  const model = buildRenderModel(config, dc, byName, resolve(config.source), holds);
  if (config.bgp.speaker === 'bird') return renderBird(deps, opts, model);
  const text = renderSnippet(template, model);

  if (!opts.check) {
    if (deps.opts.json) {
      out.json({
        dc,
        asn: model.asn,
        text,
        vips: model.vips.map(({ vip, prefix, service, rank, routeMap }) => ({ vip, prefix, service, rank, routeMap })),
        held: model.held,
      });
    } else out.data(text);
    return EXIT.OK;
  }

  if (config.bgp.speaker !== 'frr' && config.bgp.speaker !== 'quagga') {
    throw new VipError(
      'VIP_E_USAGE',
      `render --check compares the FRR snippet with FRR's running config; bgp.speaker ${config.bgp.speaker} runs none (vip-mgmt hands it each route's AS path): use vip-mgmt status to see what is announced`,
    );
  }
  const running = await deps.speaker.readRunning();
  let state: State | null = null;
  try {
    state = await deps.store.read();
  } catch (e) {
    log.warn({ code: (e as VipError).code }, `cannot read the state (holds are not shown in the differences): ${(e as Error).message}`);
  }
  const diffs = annotate(diffRendered(text, running, { vipPrefixes: config.vip_prefixes }), state);
  if (deps.opts.json) {
    out.json({ dc, asn: model.asn, inSync: diffs.length === 0, differences: diffs });
  } else if (diffs.length === 0) {
    out.data(`in sync: the running config of dc ${dc} already has everything the rendered snippet holds`);
  } else {
    out.data(`${diffs.length} difference(s) between the rendered snippet (+) and the running config (-) of dc ${dc}:\n${formatDifferences(diffs)}`);
  }
  return diffs.length === 0 ? EXIT.OK : EXIT.DIFF;
}

/** bgp.speaker bird: the DC's include file (bgp.bird.include) instead of the FRR snippet, the same
 *  text an apply writes for the same routes; --check compares its routes with the ones BIRD runs. */
async function renderBird(deps: Deps, opts: RenderOptions, model: RenderModel): Promise<number> {
  const { config, out } = deps;
  const { birdInclude, diffBirdRoutes } = await import('../core/bird.js');
  const routes = new Map(model.vips.map((v) => [v.prefix, v.routeMap]));
  const rule = prependRuleOf(config);
  const held = model.held.map((h) => `held, left out: ${h.prefix} (${h.routeMap}) by ${h.by} since ${h.since}: ${h.reason}`);
  const text = birdInclude(model.asn, routes, rule, held);
  if (!opts.check) {
    if (deps.opts.json) {
      out.json({ dc: model.dc, asn: model.asn, text, vips: model.vips.map(({ vip, prefix, service, rank, routeMap }) => ({ vip, prefix, service, rank, routeMap })), held: model.held });
    } else out.data(text.replace(/\n$/, ''));
    return EXIT.OK;
  }
  const running = await deps.speaker.readRunning();
  const state = await deps.store.read().catch(() => null);
  const diffs = annotate(diffBirdRoutes(routes, running.networks), state);
  if (deps.opts.json) out.json({ dc: model.dc, asn: model.asn, inSync: diffs.length === 0, differences: diffs });
  else if (diffs.length === 0) out.data(`in sync: BIRD runs exactly the routes of the rendered include of dc ${model.dc}`);
  else out.data(`${diffs.length} difference(s) between the rendered include (+) and what BIRD runs (-) in dc ${model.dc}:\n${formatDifferences(diffs)}`);
  return diffs.length === 0 ? EXIT.OK : EXIT.DIFF;
}
