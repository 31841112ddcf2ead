import { Button, Layout, Menu, Space, Typography } from 'antd';
import {
  AlertOutlined,
  AuditOutlined,
  ClusterOutlined,
  DashboardOutlined,
  HistoryOutlined,
  AccountBookOutlined,
  LogoutOutlined,
  SettingOutlined,
  TranslationOutlined,
  UserOutlined,
} from '@ant-design/icons';
import { useLocation, useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { useI18n } from '../i18n';

export default function BasicLayout({
  user,
  onLoggedOut,
  children,
}: {
  user: string;
  onLoggedOut: () => void;
  children: React.ReactNode;
}) {
  const { t, lang, setLang } = useI18n();
  const navigate = useNavigate();
  const location = useLocation();
  const items = [
    { key: '/overview', icon: <DashboardOutlined />, label: t('menu.overview') },
    { key: '/push-config', icon: <SettingOutlined />, label: t('menu.pushConfig') },
    { key: '/machines', icon: <ClusterOutlined />, label: t('menu.machines') },
    { key: '/history', icon: <HistoryOutlined />, label: t('menu.history') },
    { key: '/settlement', icon: <AccountBookOutlined />, label: t('menu.settlement') },
    { key: '/alerts', icon: <AlertOutlined />, label: t('menu.alerts') },
    { key: '/audit', icon: <AuditOutlined />, label: t('menu.audit') },
  ];
  const current = items.find((item) => location.pathname.startsWith(item.key))?.key ?? '/overview';
  return (
    <Layout style={{ minHeight: '100vh' }}>
      <Layout.Sider width={208} theme="dark" breakpoint="lg" collapsedWidth={64}>
        <div style={{ color: '#fff', fontWeight: 600, fontSize: 16, padding: '18px 20px', whiteSpace: 'nowrap' }}>
          PushAgent
        </div>
        <Menu
          theme="dark"
          mode="inline"
          selectedKeys={[current]}
          items={[{ type: 'group', key: 'group', label: t('menu.group'), children: items }]}
          onClick={({ key }) => navigate(key)}
        />
      </Layout.Sider>
      <Layout>
        <Layout.Header
          style={{ background: '#fff', padding: '0 24px', display: 'flex', justifyContent: 'space-between', alignItems: 'center', borderBottom: '1px solid #f0f0f0' }}
        >
          <Typography.Title level={4} style={{ margin: 0 }}>
            {items.find((item) => item.key === current)?.label}
          </Typography.Title>
          <Space size="middle">
            <Button
              type="text"
              icon={<TranslationOutlined />}
              onClick={() => setLang(lang === 'zh-CN' ? 'en-US' : 'zh-CN')}
              data-testid="lang-switch"
            >
              {t('header.language')}
            </Button>
            <span data-testid="who" title={t('header.loggedInAs')}>
              <UserOutlined /> {user}
            </span>
            <Button
              icon={<LogoutOutlined />}
              onClick={() => {
                api.logout().finally(onLoggedOut);
              }}
            >
              {t('header.logout')}
            </Button>
          </Space>
        </Layout.Header>
        <Layout.Content style={{ margin: 24 }}>{children}</Layout.Content>
      </Layout>
    </Layout>
  );
}
