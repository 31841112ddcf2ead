// Where the service put the console: its `base_path` (e.g. "/pushagent", "" at the root) and
// its `console_theme`, told by meta tags the service writes into index.html. One build works
// under any base path: assets are relative to the <base href> the service writes too.
function meta(name: string): string {
  return document.querySelector<HTMLMetaElement>(`meta[name="${name}"]`)?.content ?? '';
}

export const basePath: string = meta('pushagent-base').replace(/\/+$/, '');
export type Theme = 'default' | 'spug';
export const theme: Theme = meta('pushagent-theme') === 'spug' ? 'spug' : 'default';
