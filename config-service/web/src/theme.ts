// The console's two looks (`console_theme` of the service): antd's default, and `spug`, which
// matches the Spug ops platform it is opened from (Spug: antd with @primary-color #2563fc, a
// dark side menu 208 px wide, a compact 48 px white header with a light shadow), so it reads as
// one of the platform's own pages.
import type { CSSProperties } from 'react';
import type { ThemeConfig } from 'antd';
import { theme as consoleTheme, type Theme } from './base';

export const SPUG_PRIMARY = '#2563fc';

export function themeConfig(theme: Theme): ThemeConfig {
  if (theme === 'spug') {
    return {
      token: { colorPrimary: SPUG_PRIMARY, colorLink: SPUG_PRIMARY, borderRadius: 4 },
      components: {
        Layout: { headerHeight: 48, siderBg: '#001529' },
        Menu: { darkItemBg: '#001529', darkSubMenuItemBg: '#000c17', darkItemSelectedBg: SPUG_PRIMARY },
      },
    };
  }
  return { token: { colorPrimary: '#1677ff' } };
}

export interface LayoutLook {
  name: Theme;
  sider: CSSProperties;
  logo: CSSProperties;
  header: CSSProperties;
  content: CSSProperties;
  titleLevel: 4 | 5;
}

export function layoutLook(theme: Theme = consoleTheme): LayoutLook {
  const logo: CSSProperties = { color: '#fff', fontWeight: 600, fontSize: 16, padding: '18px 20px', whiteSpace: 'nowrap' };
  const header: CSSProperties = {
    background: '#fff',
    padding: '0 24px',
    display: 'flex',
    justifyContent: 'space-between',
    alignItems: 'center',
    borderBottom: '1px solid #f0f0f0',
  };
  if (theme === 'spug') {
    return {
      name: theme,
      sider: { boxShadow: '2px 0 6px rgba(0, 21, 41, 0.35)' },
      logo: { ...logo, padding: '12px 20px', lineHeight: '24px' },
      header: { ...header, height: 48, lineHeight: '48px', padding: '0 16px', borderBottom: 'none', boxShadow: '0 1px 4px rgba(0, 21, 41, 0.08)', zIndex: 2 },
      content: { margin: 16 },
      titleLevel: 5,
    };
  }
  return { name: theme, sider: {}, logo, header, content: { margin: 24 }, titleLevel: 4 };
}
