// QR decoding with Debian's zbarimg, an independent reader: if it decodes our QR, a phone camera can too.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';

const execFileAsync = promisify(execFile);

export const ZBARIMG_PATH = '/usr/bin/zbarimg';

export function isZbarAvailable(): boolean {
  return existsSync(ZBARIMG_PATH);
}

/** Decodes the QR code in a PNG image and returns its text. Throws if zbarimg finds no symbol. */
export async function decodeQrPng(png: Buffer): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-qr-'));
  const file = join(dir, 'qr.png');
  try {
    await writeFile(file, png);
    // --raw: only the payload, no "QR-Code:" prefix; -q: no scan statistics.
    const { stdout } = await execFileAsync(ZBARIMG_PATH, ['--raw', '-q', file], { encoding: 'utf8' });
    return stdout.trim();
  } catch (error) {
    // zbarimg exits 4 when the image holds no barcode.
    const code = (error as { code?: unknown }).code;
    if (code === 4) throw new Error('zbarimg found no QR code in the image');
    throw error;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Pixels per SVG user unit; the `qrcode` package draws one unit per module, so this is pixels per module. */
const SCALE = 8;
/** White border in pixels, in case the SVG was drawn without the quiet zone readers need. */
const PADDING = 32;

/**
 * Decodes a QR code given as SVG markup (what the server sends as `qrSvg`): renders it in Chromium on white,
 * scaled up so every module spans several pixels, screenshots it and reads the PNG with zbarimg.
 */
export async function decodeQrSvg(svg: string, browser: Browser): Promise<string> {
  const page = await browser.newPage();
  try {
    await page.setContent(
      `<!doctype html><html><body style="margin:0;background:#fff">` +
        `<div id="qr" style="display:inline-block;padding:${PADDING}px;background:#fff;line-height:0">${svg}</div>` +
        `</body></html>`,
    );
    // Size the SVG from its viewBox (or its rendered box when it has none) so the scale does not depend on any
    // width/height attributes or CSS the markup came with.
    const size = await page.evaluate((scale) => {
      const el = document.querySelector('#qr svg');
      if (!(el instanceof SVGSVGElement)) throw new Error('no <svg> element in the markup');
      const viewBox = el.viewBox.baseVal;
      const box = el.getBoundingClientRect();
      const width = (viewBox && viewBox.width > 0 ? viewBox.width : box.width) * scale;
      const height = (viewBox && viewBox.height > 0 ? viewBox.height : box.height) * scale;
      el.setAttribute('width', String(width));
      el.setAttribute('height', String(height));
      el.style.width = `${width}px`;
      el.style.height = `${height}px`;
      el.style.display = 'block';
      return { width, height };
    }, SCALE);
    await page.setViewportSize({
      width: Math.ceil(size.width + 2 * PADDING),
      height: Math.ceil(size.height + 2 * PADDING),
    });
    const png = await page.locator('#qr').screenshot({ type: 'png', animations: 'disabled' });
    return await decodeQrPng(png);
  } finally {
    await page.close();
  }
}
