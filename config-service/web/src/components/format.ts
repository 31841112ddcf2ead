import dayjs from 'dayjs';

/// Unix seconds → `YYYY-MM-DD HH:mm:ss` in the browser's time zone.
export function formatTime(unixSecs: number | null | undefined): string {
  if (unixSecs === null || unixSecs === undefined || unixSecs <= 0) return '-';
  return dayjs.unix(unixSecs).format('YYYY-MM-DD HH:mm:ss');
}

/// Binary units, as ops people read link traffic (1 KiB = 1024 bytes).
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(2)} ${units[unit]}`;
}

/// The exact count with thousands separators.
export function exactBytes(bytes: number): string {
  return bytes.toLocaleString('en-US');
}

/// Basis points → percent text ("3.00%").
export function percent(bp: number): string {
  return `${(bp / 100).toFixed(2)}%`;
}

/// `YYYYMMDDHH` → `YYYY-MM-DD HH:00`.
export function formatHour(fluxHour: string): string {
  if (!/^\d{10}$/.test(fluxHour)) return fluxHour;
  return `${fluxHour.slice(0, 4)}-${fluxHour.slice(4, 6)}-${fluxHour.slice(6, 8)} ${fluxHour.slice(8, 10)}:00`;
}

