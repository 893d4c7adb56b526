// QR codes for fingerprints: draw mine (qrcode), read someone's from an image file (jsqr). The
// payload is the fingerprint in upper case (src-shared/fingerprint.ts), checked like typed text.
import QRCode from 'qrcode';
import jsQRModule from 'jsqr';
import {
  describeFingerprintError,
  fingerprintToQrPayload,
  parseQrPayload,
  type Fingerprint,
} from '../../src-shared/fingerprint.ts';

// jsqr is CommonJS: depending on the bundler's interop its default is the function or a
// namespace holding it.
type JsQr = typeof jsQRModule.default;
const jsQR: JsQr =
  typeof jsQRModule === 'function' ? (jsQRModule as unknown as JsQr) : jsQRModule.default;

export function fingerprintQrDataUrl(fp: Fingerprint): Promise<string> {
  return QRCode.toDataURL(fingerprintToQrPayload(fp), {
    errorCorrectionLevel: 'M',
    margin: 2,
    scale: 8,
  });
}

export type QrRead = { ok: true; fingerprint: Fingerprint } | { ok: false; message: string };

/** Decode RGBA pixels; pure, so it is testable without a DOM. */
export function readQrPixels(data: Uint8ClampedArray, width: number, height: number): QrRead {
  const code = jsQR(data, width, height, { inversionAttempts: 'attemptBoth' });
  if (!code) return { ok: false, message: 'no QR code found in that image' };
  const r = parseQrPayload(code.data);
  if (!r.ok) return { ok: false, message: `the QR code is ${describeFingerprintError(r.error)}` };
  return { ok: true, fingerprint: r.value };
}

export async function readQrFromFile(file: Blob): Promise<QrRead> {
  if (file.size > 20 * 1024 * 1024) return { ok: false, message: 'that image is too large' };
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    return { ok: false, message: 'that file is not an image this app can read' };
  }
  const scale = Math.min(1, 1600 / Math.max(bitmap.width, bitmap.height));
  const w = Math.max(1, Math.round(bitmap.width * scale));
  const h = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = new OffscreenCanvas(w, h);
  const g = canvas.getContext('2d');
  if (!g) return { ok: false, message: 'cannot read images here' };
  g.drawImage(bitmap, 0, 0, w, h);
  bitmap.close();
  const img = g.getImageData(0, 0, w, h);
  return readQrPixels(img.data, w, h);
}
