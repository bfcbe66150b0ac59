import type { FastifyInstance, FastifyReply } from 'fastify';
import { MAX_DISPLAY_NAME_LENGTH } from '../../domain/display-name.ts';
import { TesseraError } from '../../domain/errors.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { changeOwnName } from '../../services/display-name.ts';
import type { ActiveSession } from '../../services/sessions.ts';
import { activeSession } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { chrome, formBody, newCsrf } from './components.ts';
import { html } from './html.ts';
import { csrfField, page, sendPage } from './layout.ts';

/** /account/name: the display name apps receive (OpenID `name`, forward-auth Remote-Name). */
function sendNameForm(reply: FastifyReply, active: ActiveSession, opts: { value?: string; error?: string | null; status?: number } = {}): FastifyReply {
  const csrf = newCsrf(reply);
  const body = html`<h1>Your name</h1>
<p>The apps you sign in to through ${active.org.name} receive this name. Leave it empty for none.</p>
<form method="post" action="/account/name" class="stack" data-once>
  ${csrfField(csrf)}
  <div class="field">
    <label for="name">Display name</label>
    <input id="name" name="name" type="text" autocomplete="name" maxlength="${String(MAX_DISPLAY_NAME_LENGTH)}" autofocus value="${opts.value ?? active.user.name ?? ''}"${
      opts.error ? html` aria-invalid="true"` : ''}>
  </div>
  <button type="submit">Save name</button>
</form>
<p><a href="/account/security">Cancel</a></p>`;
  return sendPage(reply, page({ title: 'Your name', error: opts.error ?? null, ...chrome(active, csrf) }, body), opts.status ?? 200);
}

export async function accountNamePages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/account/name', { config: { level: 'signed_in' } }, async (request, reply) => sendNameForm(reply, activeSession(request)));

  app.post('/account/name', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    const value = formBody(request).name ?? null;
    try {
      await changeOwnName(deps, requestContext(request), active, value);
    } catch (err) {
      if (!(err instanceof TesseraError && err.code === 'invalid_request')) throw err;
      return sendNameForm(reply, active, { value: typeof value === 'string' ? value.slice(0, 400) : '', error: err.message, status: 400 });
    }
    return reply.redirect('/account/security?done=name', 303);
  });
}
