import { lazy, Suspense, useEffect, useMemo, useState } from 'react';
import { App as AntApp, ConfigProvider, Spin } from 'antd';
import antdZhCN from 'antd/locale/zh_CN';
import antdEnUS from 'antd/locale/en_US';
import dayjs from 'dayjs';
import 'dayjs/locale/zh-cn';
import { Navigate, Route, Routes, useLocation, useNavigate } from 'react-router-dom';
import { api, setUnauthorizedHandler } from './api/client';
import { I18nContext, initialLang, translator, type Lang } from './i18n';
import BasicLayout from './layouts/BasicLayout';
import LoginPage from './pages/login';
import { theme as consoleTheme } from './base';
import { themeConfig } from './theme';

// Pages load on demand: the first page ships only the layout and the login form.
const Overview = lazy(() => import('./pages/overview'));
const PushConfig = lazy(() => import('./pages/push-config'));
const Machines = lazy(() => import('./pages/machines'));
const History = lazy(() => import('./pages/history'));
const Alerts = lazy(() => import('./pages/alerts'));
const Audit = lazy(() => import('./pages/audit'));
const Settlement = lazy(() => import('./pages/settlement'));
const Inventory = lazy(() => import('./pages/inventory'));

export default function App() {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const [user, setUser] = useState<string | null | undefined>(undefined);
  const navigate = useNavigate();
  const location = useLocation();
  const i18n = useMemo(
    () => ({
      lang,
      t: translator(lang),
      setLang: (next: Lang) => {
        localStorage.setItem('pushagent.lang', next);
        setLangState(next);
      },
    }),
    [lang],
  );
  useEffect(() => {
    dayjs.locale(lang === 'zh-CN' ? 'zh-cn' : 'en');
    document.documentElement.lang = lang;
    document.title = i18n.t('app.title');
  }, [lang, i18n]);
  useEffect(() => {
    setUnauthorizedHandler(() => setUser(null));
    api
      .me()
      .then((me) => setUser(me.username))
      .catch(() => setUser(null));
  }, []);

  let body: React.ReactNode;
  if (user === undefined) {
    body = <Spin size="large" style={{ display: 'block', marginTop: '20vh' }} />;
  } else if (user === null) {
    body = (
      <LoginPage
        onLoggedIn={(name) => {
          setUser(name);
          if (location.pathname === '/login') navigate('/');
        }}
      />
    );
  } else {
    body = (
      <BasicLayout
        user={user}
        onLoggedOut={() => {
          setUser(null);
          navigate('/');
        }}
      >
        <Suspense fallback={<Spin style={{ display: 'block', margin: 48 }} />}>
          <Routes>
            <Route path="/" element={<Navigate to="/overview" replace />} />
            <Route path="/login" element={<Navigate to="/overview" replace />} />
            <Route path="/overview" element={<Overview />} />
            <Route path="/push-config" element={<PushConfig />} />
            <Route path="/machines" element={<Machines />} />
            <Route path="/history" element={<History />} />
            <Route path="/alerts" element={<Alerts />} />
            <Route path="/audit" element={<Audit />} />
            <Route path="/settlement" element={<Settlement />} />
            <Route path="/inventory" element={<Inventory />} />
            <Route path="*" element={<Navigate to="/overview" replace />} />
          </Routes>
        </Suspense>
      </BasicLayout>
    );
  }
  return (
    <I18nContext.Provider value={i18n}>
      <ConfigProvider locale={lang === 'zh-CN' ? antdZhCN : antdEnUS} theme={themeConfig(consoleTheme)}>
        <AntApp>{body}</AntApp>
      </ConfigProvider>
    </I18nContext.Provider>
  );
}
