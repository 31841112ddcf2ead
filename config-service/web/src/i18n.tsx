// Language state: zh-CN by default, English on request (remembered in localStorage).
import { createContext, useContext } from 'react';
import zhCN, { type MessageKey } from './locales/zh-CN';
import enUS from './locales/en-US';

export type Lang = 'zh-CN' | 'en-US';
export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

const tables: Record<Lang, Record<MessageKey, string>> = { 'zh-CN': zhCN, 'en-US': enUS };

export function translator(lang: Lang): Translate {
  return (key, vars) => {
    let text = tables[lang][key] ?? key;
    for (const [name, value] of Object.entries(vars ?? {})) text = text.split(`{${name}}`).join(String(value));
    return text;
  };
}

export function initialLang(): Lang {
  const saved = localStorage.getItem('pushagent.lang');
  return saved === 'en-US' ? 'en-US' : 'zh-CN';
}

export const I18nContext = createContext<{ lang: Lang; t: Translate; setLang: (lang: Lang) => void }>({
  lang: 'zh-CN',
  t: translator('zh-CN'),
  setLang: () => {},
});

export function useI18n() {
  return useContext(I18nContext);
}
